"""``liveeval drift REF CUR``: which columns moved from a reference file to a current one."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import ValidationError
from ..monitor.drift import ColumnDrift, DriftReport
from .app import _bad_input, _fail, _split, _tell

__all__ = ["drift", "parse_threshold"]

EXIT_DRIFT = 1


def parse_threshold(text: str | None) -> dict[str, float]:
    """``"0.1"`` (both kinds) or ``"numeric=0.05,categorical=0.1"`` as rule fields."""
    if text is None:
        return {}
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        kind, sep, value = part.rpartition("=")
        kinds = ["numeric", "categorical"] if not sep else [kind.strip()]
        for k in kinds:
            if k not in ("numeric", "categorical"):
                raise ValidationError(
                    f"--threshold {text!r}: unknown kind {k!r}; use a number for both kinds, "
                    "or numeric=X,categorical=Y"
                )
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number >= 0):
                raise ValidationError(
                    f"--threshold {text!r}: {value!r} is not a number >= 0 "
                    "(numeric: Wasserstein-1 in reference SDs; categorical: Jensen-Shannon distance)"
                )
            out[f"{k}_threshold"] = number
    return out


def _effect_cells(c: ColumnDrift) -> tuple[str, str]:
    m = c.call.measurement
    if m.effect is None:
        return "—", ""
    if math.isinf(m.effect):
        return "∞", "constant reference"
    lo, hi = m.effect_lower, m.effect_upper
    interval = f"[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{m.effect:.3f}", interval


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2g}" if value >= 1e-4 else "< 1e-4"


_STATUS_STYLE = {
    "drifted": "bold red",
    "not_drifted": "green",
    "too_few_rows": "yellow",
    "undefined": "dim",
}
_STATUS_TEXT = {
    "drifted": "DRIFTED",
    "not_drifted": "no",
    "too_few_rows": "no call",
    "undefined": "—",
}


def _print(report: DriftReport) -> None:
    console = Console(highlight=False)
    table = Table(
        title=f"Drift — {report.reference} ({report.rows_reference:,} rows) → "
        f"{report.current} ({report.rows_current:,} rows)",
        header_style="bold",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("column", min_width=10, overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("effect", justify="right", no_wrap=True)
    table.add_column("95% interval", justify="right", no_wrap=True)
    table.add_column("≥", justify="right", no_wrap=True)
    table.add_column("p adj.", justify="right", no_wrap=True)
    table.add_column("drifted", no_wrap=True)
    for i, c in enumerate(report.columns, start=1):
        m = c.call.measurement
        name = c.name if c.role == "feature" else f"{c.name} ({c.role})"
        kind = "num" if m.kind == "numeric" else "cat"
        if m.unseen_categories:
            kind += f", {m.unseen_categories} unseen"
        value, interval = _effect_cells(c)
        table.add_row(
            str(i),
            name,
            kind,
            value,
            interval,
            f"{c.call.threshold:g}",
            _p(c.call.p_adjusted),
            Text(_STATUS_TEXT[c.call.status], style=_STATUS_STYLE[c.call.status]),
        )
    console.print(table)
    for s in report.skipped:
        console.print(f"skipped {s.name}: {s.reason}", style="dim", markup=False)
    for c in report.columns:
        if c.call.status == "too_few_rows":
            console.print(f"{c.name}: {c.call.measurement.reason}", style="yellow", markup=False)
    drifted = [c.name for c in report.columns if c.drifted]
    summary = (
        f"{len(drifted)} of {len(report.columns)} columns drifted: {', '.join(drifted)}"
        if drifted
        else f"no drift in {len(report.columns)} columns"
    )
    console.print(summary, style="bold red" if drifted else "bold green", markup=False)
    console.print(
        "effect: numeric W1/SD (Wasserstein-1 in reference SDs), categorical JS "
        "(Jensen-Shannon distance); ≥: its threshold; p adj.: Benjamini-Hochberg "
        "(KS for numbers, chi-square for categories).",
        style="dim",
        markup=False,
    )
    rule = report.columns[0].call.rule if report.columns else report.rule.describe()
    console.print(f"Rule: {rule}.", style="dim", markup=False)


def drift(
    reference: Annotated[
        Path, typer.Argument(help="Reference data (training, validation or a past window).")
    ],
    current: Annotated[Path, typer.Argument(help="Current data, the same columns.")],
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Comma-separated columns to compare (default: all shared)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="True-label column: prevalence drift.")
    ] = None,
    score: Annotated[str | None, typer.Option("--score", help="Score column: score drift.")] = None,
    prediction: Annotated[
        str | None, typer.Option("--prediction", help="Predicted-label column: prediction drift.")
    ] = None,
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold",
            help="Effect-size threshold: one number for both kinds, or "
            "numeric=0.05,categorical=0.05 (numeric: Wasserstein-1 in reference SDs; "
            "categorical: Jensen-Shannon distance).",
        ),
    ] = None,
    alpha: Annotated[
        float,
        typer.Option("--alpha", help="False-discovery rate over all columns (Benjamini-Hochberg)."),
    ] = 0.05,
    min_rows: Annotated[
        int, typer.Option("--min-rows", help="No call below this many values on either side.")
    ] = 100,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write the JSON result to PATH ('-' for stdout).")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write an HTML page with reference vs current histograms."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local: read the files here; spark: PySpark computes the histograms of "
            "Parquet files, folders or globs.",
        ),
    ] = "local",
) -> None:
    """Which columns moved from REFERENCE to CURRENT, ranked, with the rule that decided.

    Drifted = effect size at least --threshold AND significant after Benjamini-Hochberg.
    Exit code: 0 no drift, 1 drift found, 2 bad input.
    """
    from ..metrics.drift import DriftRule
    from ..monitor.drift import compare_files

    with _bad_input():
        thresholds = parse_threshold(threshold)
        rule = DriftRule(
            numeric_threshold=thresholds.get("numeric_threshold", DriftRule.numeric_threshold),
            categorical_threshold=thresholds.get(
                "categorical_threshold", DriftRule.categorical_threshold
            ),
            alpha=alpha,
            min_rows=min_rows,
        )
        report = compare_files(
            reference,
            current,
            columns=_split(columns),
            label=label,
            score=score,
            prediction=prediction,
            rule=rule,
            engine=engine,
        )
    written = []
    if html is not None:
        from ..report.drift_html import write_drift_html

        try:
            write_drift_html(report.to_dict(), html)
        except OSError as exc:
            _fail(f"{html}: cannot write the HTML page: {exc.strerror}")
        written.append(f"HTML written to {html.resolve()}")
    if json_path == "-":
        sys.stdout.write(report.to_json() + "\n")
    elif json_path is not None:
        try:
            report.to_json(json_path)
        except OSError as exc:
            _fail(f"{json_path}: cannot write the JSON result: {exc.strerror}")
        written.append(f"JSON written to {Path(json_path).resolve()}")
    if json_path != "-":
        _print(report)
    _tell(written)
    raise typer.Exit(EXIT_DRIFT if report.drifted else 0)
