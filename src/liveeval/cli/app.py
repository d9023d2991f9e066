"""The ``liveeval`` command: report, check and threshold on prediction-log files.

Exit codes: 0 success (``check``: pass), 1 ``check`` failed, 2 bad input,
3 ``check`` inconclusive. Bad input is one line on stderr, ``Error: …``, naming the
file, the column and the first offending row (rows counted from 1, the header
not counted).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import LiveevalError, ValidationError

app = typer.Typer(
    name="liveeval",
    help="Is the deployed model delivering value? Metrics with confidence intervals, "
    "use-case verdicts and pitfall checks for logged predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_BAD_INPUT = 2
PROGRESS_MIN_BYTES = 32 * 1024 * 1024

# Column flags, the same on every command.
File = Annotated[Path, typer.Argument(help="Prediction log: .csv, .tsv, .parquet or .jsonl")]
LabelOpt = Annotated[str, typer.Option("--label", help="Column with the true label.")]
PredOpt = Annotated[
    str | None,
    typer.Option("--pred", help="Column with the predicted label (else derived from the score)."),
]
ScoreOpt = Annotated[
    str | None, typer.Option("--score", help="Column with the binary score, P(positive).")
]
ProbaOpt = Annotated[
    str | None,
    typer.Option("--proba", help="Comma-separated class-probability columns, e.g. p_a,p_b,p_c."),
]
ProbaPrefixOpt = Annotated[
    str | None,
    typer.Option("--proba-prefix", help="Prefix of the class-probability columns, e.g. p_."),
]
PosLabelOpt = Annotated[
    str | None, typer.Option("--pos-label", help="The positive class (binary problems).")
]
LabelsOpt = Annotated[
    str | None,
    typer.Option("--labels", help="Comma-separated declared classes; any other label is an error."),
]
ThresholdOpt = Annotated[
    float, typer.Option("--threshold", help="Score at or above which a row is positive.")
]
TimeOpt = Annotated[str | None, typer.Option("--time", help="Timestamp column (for time buckets).")]
WindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window", help="Time windows of the breakdown (15m, 1h, 1d), with label coverage."
    ),
]
VersionOpt = Annotated[str | None, typer.Option("--version", help="Model-version column.")]
SegmentOpt = Annotated[str | None, typer.Option("--segment", help="Segment column.")]
WeightOpt = Annotated[str | None, typer.Option("--weight", help="Sample-weight column.")]
LatencyOpt = Annotated[
    str | None,
    typer.Option("--latency", help="Latency column (unit from a _ms/_seconds suffix)."),
]
LatencyUnitOpt = Annotated[
    str | None, typer.Option("--latency-unit", help="Latency unit: s, ms, us or ns.")
]
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="Prediction status column; rows not 'ok' count as failed."),
]
JsonOpt = Annotated[
    str | None, typer.Option("--json", help="Write the JSON report to PATH ('-' for stdout).")
]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the HTML report to PATH.")]
ConfidenceOpt = Annotated[
    float,
    typer.Option("--confidence", help="Confidence level of every interval, in (0, 1)."),
]
MinRecallOpt = Annotated[
    float | None,
    typer.Option("--min-recall", help="Recommend the best precision at this recall, in [0, 1]."),
]
MinPrecisionOpt = Annotated[
    float | None,
    typer.Option("--min-precision", help="Recommend the best recall at this precision, in [0, 1]."),
]
CostFpOpt = Annotated[
    float | None, typer.Option("--cost-fp", help="Cost of a false positive, >= 0 (default 1).")
]
CostFnOpt = Annotated[
    float | None, typer.Option("--cost-fn", help="Cost of a false negative, >= 0 (default 1).")
]
TrainOpt = Annotated[
    Path | None, typer.Option("--train", help="Training data, same columns (overfitting, leakage).")
]
ValidationOpt = Annotated[
    Path | None, typer.Option("--validation", help="Validation data, same columns.")
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local: read the file here; spark: PySpark aggregates the statistics of "
        "Parquet files (a file, folder or glob such as 'logs/*.parquet').",
    ),
]
FeaturesOpt = Annotated[
    str | None,
    typer.Option("--features", help="Comma-separated feature columns for the leakage checks."),
]


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts or None


def _fail(message: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"Error: {message}", markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def _bad_input() -> Iterator[None]:
    """Turn every user error into one line on stderr and exit code 2."""
    try:
        yield
    except LiveevalError as exc:
        _fail(str(exc))
    except MemoryError:
        _fail("not enough memory to read the file")


def _progress_for(path: Path) -> tuple[Progress | None, Callable[[int, int], None] | None]:
    try:
        big = path.stat().st_size >= PROGRESS_MIN_BYTES
    except OSError:
        return None, None
    if not big or not sys.stderr.isatty():
        return None, None
    progress = Progress(
        TextColumn("reading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(path.name, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _evaluate(file: Path, **kwargs: Any) -> Any:
    from ..analysis import check_options, evaluate

    # Checked before the file is read, and named as the user typed them.
    check_options(
        flag=_flag,
        **{
            k: kwargs[k]
            for k in ("confidence", "min_recall", "min_precision", "cost_fp", "cost_fn")
            if k in kwargs
        },
    )

    engine = kwargs.get("engine", "local")
    if engine not in ("local", "spark"):
        raise ValidationError(f"--engine {engine!r} is not one of local, spark")
    if engine == "spark":
        # Spark reads the files itself (a glob or a folder is not one local file).
        return evaluate(str(file), **kwargs)
    progress, callback = _progress_for(file)
    if progress is None:
        return evaluate(file, **kwargs)
    with progress:
        return evaluate(file, progress=callback, **kwargs)


def _write_outputs(report: Any, json_path: str | None, html_path: Path | None) -> list[str]:
    """Write the requested files; returns what to tell the user once the report is shown."""
    written = []
    if html_path is not None:
        try:
            report.to_html(html_path)
        except OSError as exc:
            _fail(f"{html_path}: cannot write the HTML report: {exc.strerror}")
        written.append(f"HTML report written to {html_path.resolve()}")
    if json_path == "-":
        sys.stdout.write(report.to_json() + "\n")
    elif json_path is not None:
        try:
            report.to_json(json_path)
        except OSError as exc:
            _fail(f"{json_path}: cannot write the JSON report: {exc.strerror}")
        written.append(f"JSON report written to {Path(json_path).resolve()}")
    return written


def _tell(lines: list[str]) -> None:
    err = Console(stderr=True, highlight=False)
    for line in lines:
        err.print(line, markup=False)


def _common(
    label: str,
    pred: str | None,
    score: str | None,
    proba: str | None,
    proba_prefix: str | None,
    pos_label: str | None,
    labels: str | None,
    threshold: float,
    time: str | None,
    version: str | None,
    segment: str | None,
    weight: str | None,
    latency: str | None,
    latency_unit: str | None,
    status: str | None,
    confidence: float,
) -> dict[str, Any]:
    return {
        "label": label,
        "pred": pred,
        "score": score,
        "proba": _split(proba),
        "proba_prefix": proba_prefix,
        "pos_label": pos_label,
        "labels": _split(labels),
        "threshold": threshold,
        "time": time,
        "version": version,
        "segment": segment,
        "weight": weight,
        "latency": latency,
        "latency_unit": latency_unit,
        "status": status,
        "confidence": confidence,
    }


@app.command()
def report(
    file: File,
    label: LabelOpt,
    pred: PredOpt = None,
    score: ScoreOpt = None,
    proba: ProbaOpt = None,
    proba_prefix: ProbaPrefixOpt = None,
    pos_label: PosLabelOpt = None,
    labels: LabelsOpt = None,
    threshold: ThresholdOpt = 0.5,
    time: TimeOpt = None,
    window: WindowOpt = None,
    version: VersionOpt = None,
    segment: SegmentOpt = None,
    weight: WeightOpt = None,
    latency: LatencyOpt = None,
    latency_unit: LatencyUnitOpt = None,
    status: StatusOpt = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Use-case profile name or TOML file.")
    ] = None,
    train: TrainOpt = None,
    validation: ValidationOpt = None,
    features: FeaturesOpt = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Data to compare the features, label and score with (drift section).",
        ),
    ] = None,
    maturity: Annotated[
        float,
        typer.Option("--maturity", help="Label coverage from which a window is realized."),
    ] = 0.9,
    min_recall: MinRecallOpt = None,
    min_precision: MinPrecisionOpt = None,
    cost_fp: CostFpOpt = None,
    cost_fn: CostFnOpt = None,
    confidence: ConfidenceOpt = 0.95,
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
    engine: EngineOpt = "local",
) -> None:
    """Every metric with its confidence interval, pitfalls, and a verdict if --profile is given."""
    with _bad_input():
        result = _evaluate(
            file,
            **_common(
                label,
                pred,
                score,
                proba,
                proba_prefix,
                pos_label,
                labels,
                threshold,
                time,
                version,
                segment,
                weight,
                latency,
                latency_unit,
                status,
                confidence,
            ),
            window=window,
            profile=profile,
            train=train,
            validation=validation,
            features=_split(features),
            reference=reference,
            maturity=maturity,
            min_recall=min_recall,
            min_precision=min_precision,
            cost_fp=cost_fp,
            cost_fn=cost_fn,
            engine=engine,
        )
        written = _write_outputs(result, json_path, html)
    if json_path != "-":
        Console(highlight=False).print(result)
    _tell(written)


@app.command()
def check(
    file: File,
    label: LabelOpt,
    profile: Annotated[
        str, typer.Option("--profile", help="Use-case profile name (fraud, spam …) or TOML file.")
    ],
    pred: PredOpt = None,
    score: ScoreOpt = None,
    proba: ProbaOpt = None,
    proba_prefix: ProbaPrefixOpt = None,
    pos_label: PosLabelOpt = None,
    labels: LabelsOpt = None,
    threshold: ThresholdOpt = 0.5,
    time: TimeOpt = None,
    version: VersionOpt = None,
    segment: SegmentOpt = None,
    weight: WeightOpt = None,
    latency: LatencyOpt = None,
    latency_unit: LatencyUnitOpt = None,
    status: StatusOpt = None,
    train: TrainOpt = None,
    validation: ValidationOpt = None,
    features: FeaturesOpt = None,
    confidence: ConfidenceOpt = 0.95,
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Judge the model against a use-case profile: exit 0 pass, 1 fail, 3 inconclusive."""
    from ..report.terminal import STATUS_STYLE

    with _bad_input():
        result = _evaluate(
            file,
            **_common(
                label,
                pred,
                score,
                proba,
                proba_prefix,
                pos_label,
                labels,
                threshold,
                time,
                version,
                segment,
                weight,
                latency,
                latency_unit,
                status,
                confidence,
            ),
            profile=profile,
            train=train,
            validation=validation,
            features=_split(features),
        )
        written = _write_outputs(result, json_path, html)
    if json_path != "-":
        from rich.table import Table
        from rich.text import Text

        from ..report.terminal import _verdict

        console = Console(highlight=False)
        console.print(_verdict(result))
        if result.findings:
            table = Table(show_header=False, box=None)
            table.add_column(no_wrap=True)
            table.add_column(overflow="fold")
            for f in result.findings:
                table.add_row(Text(f.severity.upper(), style=STATUS_STYLE[f.severity]), f.message)
            console.print(table)
    _tell(written)
    raise typer.Exit(result.exit_code)


@app.command()
def threshold(
    file: File,
    label: LabelOpt,
    score: ScoreOpt = None,
    pos_label: PosLabelOpt = None,
    labels: LabelsOpt = None,
    current: Annotated[
        float, typer.Option("--threshold", help="The threshold in use now, for comparison.")
    ] = 0.5,
    time: TimeOpt = None,
    version: VersionOpt = None,
    segment: SegmentOpt = None,
    weight: WeightOpt = None,
    status: StatusOpt = None,
    min_recall: MinRecallOpt = None,
    min_precision: MinPrecisionOpt = None,
    cost_fp: CostFpOpt = None,
    cost_fn: CostFnOpt = None,
    confidence: ConfidenceOpt = 0.95,
    json_path: JsonOpt = None,
) -> None:
    """Recommend an operating point: max F1, recall ≥ R, precision ≥ P, or minimum cost."""
    with _bad_input():
        if score is None:
            _fail("threshold tuning needs a binary score column: give --score COL")
        result = _evaluate(
            file,
            **_common(
                label,
                None,
                score,
                None,
                None,
                pos_label,
                labels,
                current,
                time,
                version,
                segment,
                weight,
                None,
                None,
                status,
                confidence,
            ),
            min_recall=min_recall,
            min_precision=min_precision,
            cost_fp=cost_fp,
            cost_fn=cost_fn,
        )
    r = result.result
    if json_path is not None:
        doc = {
            "schema_version": result.to_dict()["schema_version"],
            "source": result.source,
            "current_threshold": current,
            "metrics_at_current_threshold": {
                k: result.to_dict()["metrics"][k]
                for k in ("precision", "recall", "f1", "specificity", "accuracy")
                if k in r.metrics
            },
            "operating_points": [p.to_dict() for p in r.operating_points],
            "curve": r.threshold_curve,
        }
        import json

        text = json.dumps(doc, indent=2, default=str)
        if json_path == "-":
            sys.stdout.write(text + "\n")
            return
        try:
            Path(json_path).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"{json_path}: cannot write the JSON report: {exc.strerror}")
    from rich.table import Table

    from ..report.model import confidence_level

    console = Console(highlight=False)
    table = Table(title=f"Operating points — {result.source}", header_style="bold")
    for col in ("objective", "thresh", "precision", "recall", "f1", "specif", "cost"):
        table.add_column(
            col, justify="left" if col == "objective" else "right", no_wrap=True, min_width=6
        )

    def cell(m: Any) -> str:
        if m.value is None:
            return "undefined"
        if m.lower is None:
            return f"{m.value:.3f}"
        return f"{m.value:.3f}\n±{(m.upper - m.lower) / 2:.3f}"

    table.add_row(
        f"current (≥ {current:g})",
        f"{current:.4f}",
        *(cell(r.metrics[k]) for k in ("precision", "recall", "f1", "specificity")),
        "—",
    )
    for p in r.operating_points:
        if p.threshold is None:
            table.add_row(p.objective, "—", p.reason or "", "", "", "", "")
            continue
        table.add_row(
            p.objective,
            f"{p.threshold:.4f}",
            *(cell(p.metrics[k]) for k in ("precision", "recall", "f1", "specificity")),
            "—" if p.expected_cost is None else f"{p.expected_cost:.4f}",
        )
        if p.out_of_sample:
            # The same rule, chosen on one half and measured on the other: honest
            # where the in-sample row above is optimistic.
            table.add_row(
                "  cross-fitted",
                "",
                *(
                    cell(p.out_of_sample[k]) if k in p.out_of_sample else "—"
                    for k in ("precision", "recall", "f1", "specificity")
                ),
                "",
            )
    console.print(table)
    notes = {p.interval_note for p in r.operating_points if p.interval_note}
    for note in sorted(notes):
        console.print(note, style="dim")
    console.print(
        "Rows with score ≥ thresh are predicted positive; specif = specificity; cost is "
        "the expected cost per row; ± is half the "
        f"{confidence_level(confidence)} interval (exact limits in --json).",
        style="dim",
    )


@app.command("profiles")
def profiles() -> None:
    """List the built-in use-case profiles and their checks."""
    from ..readiness import builtin_profiles, load_profile

    console = Console(highlight=False)
    for name in builtin_profiles():
        p = load_profile(name)
        checks = ", ".join(c.describe() for c in p.checks)
        console.print(f"[bold]{name}[/bold]: {p.description}\n    {checks}")


@app.command("demo-data")
def demo_data(
    folder: Annotated[Path, typer.Argument(help="Folder to write the example files into.")],
    rows: Annotated[int, typer.Option("--rows", min=1000, help="Rows in the live log.")] = 50_000,
) -> None:
    """Write an example fraud-like prediction log with training and validation sets."""
    from ..demo import write_demo

    with _bad_input():
        try:
            paths = write_demo(folder, rows)
        except OSError as exc:
            _fail(f"{folder}: cannot write the example data: {exc.strerror}")
    for name, path in paths.items():
        Console(highlight=False).print(f"{name}: {path}")


def _register_server_commands() -> None:
    from .alerts import alerts
    from .demo import demo
    from .drift import drift
    from .monitor import monitor
    from .notify import actions, deployments, notifications
    from .reference import reference_app
    from .serve import export, serve

    app.command("serve")(serve)
    app.command("export")(export)
    app.command("monitor")(monitor)
    app.command("demo")(demo)
    app.command("drift")(drift)
    app.command("notifications")(notifications)
    app.command("actions")(actions)
    app.command("deployments")(deployments)
    app.command("alerts")(alerts)
    app.add_typer(reference_app, name="reference")


_register_server_commands()


def main() -> None:
    app()
