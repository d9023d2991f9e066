"""The report in a terminal: the verdict first, then the evidence."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..metrics import MetricResult
from ..metrics.registry import metric_names
from ..metrics.threshold import OperatingPoint
from ..readiness.verdict import CheckResult, fmt
from .model import Report, confidence_level

__all__ = ["MODE_WORDS", "check_interval", "confusion_text", "interval_notes", "render"]

STATUS_STYLE = {
    "pass": "bold green",
    "warn": "bold yellow",
    "fail": "bold red",
    "inconclusive": "bold magenta",
    "info": "cyan",
}

# A verdict's mode in words: how often the data may be looked at.
MODE_WORDS = {
    "fixed": "fixed-sample intervals: valid for one look",
    "anytime": "anytime-valid: valid however often you look",
}
MODE_SHORT = {"fixed": "fixed-sample", "anytime": "anytime-valid"}

# Metrics shown in the main table, in the catalogue's order, when present.
SHOWN = metric_names(role="summary")
BREAKDOWN = metric_names(role="breakdown")
PER_CLASS = metric_names(role="per_class")
OPERATING_POINT = metric_names(role="operating_point")


def _value(name: str, m: MetricResult) -> str:
    if m.value is None:
        return "undefined"
    if m.zero_division is not None:
        return f"{m.value:g}*"
    if name.endswith("_seconds"):
        return fmt(name, m.value)
    return f"{m.value:.4f}"


def _interval(name: str, m: MetricResult) -> str:
    if m.lower is None or m.upper is None:
        return "—"
    if name.endswith("_seconds"):
        return f"{fmt(name, m.lower)} – {fmt(name, m.upper)}"
    return f"{m.lower:.4f} – {m.upper:.4f}"


def confusion_text(report: Report) -> str:
    """The confusion matrix as the seeds draw it: actual rows, predicted columns."""
    r = report.result
    m = r.confusion_matrix
    labels = list(r.labels)

    def count(v: float) -> str:
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"

    lines = []
    if r.kind == "binary":
        p = labels.index(r.pos_label)
        q = 1 - p
        cells = [
            [f"{count(m[p][p])} (TP)", f"{count(m[p][q])} (FN)"],
            [f"{count(m[q][p])} (FP)", f"{count(m[q][q])} (TN)"],
        ]
        rows = [f"Actual Positive ({labels[p]})", f"Actual Negative ({labels[q]})"]
        cols = [f"Predicted Positive ({labels[p]})", f"Predicted Negative ({labels[q]})"]
    else:
        cells = [[count(v) for v in row] for row in m]
        rows = [f"Actual {label}" for label in labels]
        cols = [f"Predicted {label}" for label in labels]
    first = max(len(x) for x in rows)
    widths = [max(len(cols[j]), *(len(c[j]) for c in cells)) for j in range(len(cols))]
    lines.append(
        " " * first + "   " + "   ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
    )
    for name, row in zip(rows, cells, strict=True):
        lines.append(
            name.ljust(first)
            + "   "
            + "   ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        )
    total = sum(sum(row) for row in m)
    lines.append("")
    lines.append(f"Total samples = {count(total)}")
    return "\n".join(lines)


class _MetricTable:
    """The metric table, fitted to the terminal: numbers never wrap, methods get what is left."""

    def __init__(self, metrics: dict[str, MetricResult], confidence: float) -> None:
        self.metrics = metrics
        self.confidence = confidence

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = [(name, self.metrics[name]) for name in SHOWN if name in self.metrics]
        name_w = max(len(n) for n, _ in rows) if rows else 6
        value_w = max((len(_value(n, m)) for n, m in rows), default=5)
        ci_w = max((len(_interval(n, m)) for n, m in rows), default=6)
        n_w = max((len(f"{m.n:,}") for _, m in rows), default=1)
        fixed = name_w + value_w + ci_w + n_w + 4 * 3 + 4
        method_w = options.max_width - fixed - 3
        table = Table(header_style="bold")
        table.add_column("metric", no_wrap=True, min_width=name_w)
        table.add_column("value", justify="right", no_wrap=True, min_width=value_w)
        ci = f"{confidence_level(self.confidence)} CI"
        table.add_column(ci, justify="right", no_wrap=True, min_width=max(ci_w, len(ci)))
        table.add_column("n", justify="right", no_wrap=True, min_width=n_w)
        show_method = method_w >= 12
        if show_method:
            table.add_column(
                "method", style="dim", no_wrap=True, overflow="ellipsis", max_width=method_w
            )
        for name, m in rows:
            cells = [name, _value(name, m), _interval(name, m), f"{m.n:,}"]
            table.add_row(*cells, *([m.method] if show_method else []))
        yield table


def check_interval(c: CheckResult) -> str:
    """A check's interval as text; a side the data cannot bound yet (a latency
    quantile's confidence sequence early on) is "unbounded"."""
    m = c.check.metric
    if c.lower is None and c.upper is None:
        return "—"
    lower = fmt(m, c.lower) if c.lower is not None else "0"
    upper = fmt(m, c.upper) if c.upper is not None else "unbounded"
    return f"{lower} – {upper}"


def _has_interval(c: CheckResult) -> bool:
    return c.lower is not None or c.upper is not None


def _verdict(report: Report) -> Any:
    v = report.verdict
    assert v is not None
    table = Table(show_header=True, header_style="bold", expand=False, box=None, pad_edge=False)
    level = confidence_level(report.result.confidence)
    ci = f"{level} CI" if v.mode == "fixed" else f"{level} anytime CI"
    for col in ("", "metric", "value", ci, "target", "why"):
        table.add_column(col, overflow="fold")
    for c in v.checks:
        m = c.check.metric
        table.add_row(
            Text(c.status.upper(), style=STATUS_STYLE[c.status]),
            m,
            fmt(m, c.value),
            check_interval(c) + (" †" if c.mode != v.mode and _has_interval(c) else ""),
            f"{c.check.op} {fmt(m, c.check.target)}",
            c.reason,
        )
    body: list[Any] = [Text(v.summary), Text(""), table]
    other = sorted({c.mode for c in v.checks if c.mode != v.mode and _has_interval(c)})
    for mode in other:
        body.append(Text(f"† judged on {MODE_WORDS[mode]} (not the verdict's mode)", style="dim"))
    if v.error_rates is not None:
        body += [Text(""), Text(v.error_rates.text, style="dim")]
    title = Text(f"Verdict: {v.status.upper()}", style=STATUS_STYLE[v.status])
    title.append(f" · {MODE_WORDS[v.mode]}", style="bold")
    return Panel(Group(*body), title=title, title_align="left")


def interval_notes(points: list[OperatingPoint]) -> list[str]:
    """Each distinct ``interval_note`` of the operating points, naming the points it
    covers when they do not all share it."""
    noted = [p for p in points if p.interval_note]
    by_note: dict[str, list[str]] = {}
    for p in noted:
        by_note.setdefault(p.interval_note or "", []).append(p.objective)
    everyone = [p.objective for p in points if p.threshold is not None]
    return [
        note if objectives == everyone else f"{', '.join(objectives)}: {note}"
        for note, objectives in by_note.items()
    ]


def _point_cell(m: MetricResult | None, sep: str) -> str:
    if m is None:
        return "—"
    if m.value is None or m.lower is None or m.upper is None:
        return _value("", m)
    return f"{m.value:.3f}{sep}±{(m.upper - m.lower) / 2:.3f}"


class _OperatingPoints:
    """The operating points, in-sample and cross-fitted, each on one line when the
    terminal is wide enough and with the ± under the value when it is not."""

    def __init__(self, points: list[OperatingPoint], confidence: float) -> None:
        self.points = points
        self.confidence = confidence

    def _rows(self, sep: str) -> list[tuple[list[str], bool]]:
        rows: list[tuple[list[str], bool]] = []
        for p in self.points:
            if p.threshold is None:
                # The reason is a note under the table: a cell would widen its column.
                rows.append(([p.objective, "—", "none", *["—"] * len(OPERATING_POINT), ""], True))
                continue
            cm = p.confusion
            total = sum(map(sum, cm)) or 1.0
            flagged = (cm[0][1] + cm[1][1]) / total
            fitted = p.out_of_sample is not None
            rows.append(
                (
                    [
                        p.objective,
                        f"{p.threshold:.4f}",
                        "in-sample" if p.in_sample else "held out",
                        *(_point_cell(p.metrics.get(k), sep) for k in OPERATING_POINT),
                        f"{flagged:.2%}",
                    ],
                    not fitted,
                )
            )
            if p.out_of_sample is not None:
                rows.append(
                    (
                        [
                            "",
                            "",
                            "cross-fitted",
                            *(_point_cell(p.out_of_sample.get(k), sep) for k in OPERATING_POINT),
                            "",
                        ],
                        True,
                    )
                )
        return rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        headers = ["objective", "threshold", "measured", *OPERATING_POINT, "flagged"]
        rows = self._rows(" ")
        widths = [max(len(h), *(len(r[i]) for r, _ in rows)) for i, h in enumerate(headers)]
        wide = sum(widths) + 3 * len(headers) + 1 <= options.max_width
        if not wide:
            rows = self._rows("\n")
        ops = Table(
            title=f"Operating points (value ± half its {confidence_level(self.confidence)} CI)",
            header_style="bold",
        )
        for h in headers:
            ops.add_column(
                h,
                justify="left" if h in ("objective", "measured") else "right",
                no_wrap=h != "objective",
                overflow="fold",
            )
        for cells, end in rows:
            ops.add_row(*cells, end_section=end)
        yield ops
        for p in self.points:
            if p.threshold is None and p.reason:
                yield Text(f"{p.objective}: {p.reason}", style="dim")
        for note in interval_notes(self.points):
            yield Text(note, style="dim")


def render(report: Report) -> Group:
    r = report.result
    parts: list[Any] = []
    head = Text()
    head.append("liveeval report", style="bold")
    head.append(f" — {report.source}\n")
    head.append(
        f"{report.rows_read:,} rows read, {report.rows_evaluated:,} evaluated"
        f" ({r.kind}, classes {list(r.labels)}"
        + (f", positive = {r.pos_label!r}" if r.pos_label is not None else "")
        + ")"
    )
    for reason, rows in report.excluded.items():
        head.append(f"\n  excluded: {rows:,} rows — {reason}")
    for note in report.notes:
        head.append(f"\n  note: {note}", style="dim")
    parts.append(head)
    if report.verdict is not None:
        parts.append(_verdict(report))
    if report.findings:
        findings = Table(show_header=False, box=None, pad_edge=False)
        findings.add_column(no_wrap=True)
        findings.add_column(overflow="fold")
        for f in report.findings:
            findings.add_row(Text(f.severity.upper(), style=STATUS_STYLE[f.severity]), f.message)
        parts.append(Panel(findings, title="Pitfalls", title_align="left"))
    parts.append(Panel(Text(confusion_text(report)), title="Confusion matrix", title_align="left"))

    parts.append(_MetricTable(r.metrics, r.confidence))
    if any(m.zero_division is not None for m in r.metrics.values()):
        parts.append(
            Text("* undefined (zero division); shown as scikit-learn reports it", style="dim")
        )

    if r.kind == "multiclass":
        pc = Table(title="Per class", header_style="bold")
        for col in ("class", "support", *PER_CLASS):
            pc.add_column(col, justify="right" if col != "class" else "left")
        for row in r.per_class:
            pc.add_row(
                str(row["label"]),
                f"{row['support']:,.0f}",
                *(_value(k, row[k]) for k in PER_CLASS),
            )
        parts.append(pc)

    if r.operating_points:
        parts.append(_OperatingPoints(r.operating_points, r.confidence))

    for dim, groups in report.breakdowns.items():
        if not groups:
            continue
        title = f"By {dim}" + (
            f" ({report.time_unit})" if dim == "time" and report.time_unit else ""
        )
        # No vertical rules: a time series with its coverage must fit 80 columns.
        bt = Table(
            title=title,
            header_style="bold",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=0,
        )
        with_metrics = next((b for b in groups if b.metrics), groups[0])
        columns = [m for m in BREAKDOWN if m in with_metrics.metrics]
        coverage = any(b.predictions is not None for b in groups)
        headers = [dim, *(("predicted", "labelled") if coverage else ("rows",)), *columns]
        if len(groups) > 60:
            parts.append(Text(f"{dim}: showing the first 60 of {len(groups)} groups", style="dim"))
        lines: list[list[str]] = []
        for b in groups[:60]:
            cells = []
            for m in columns:
                res = b.metrics.get(m)
                if res is None or res.value is None or res.zero_division is not None:
                    cells.append("—")
                elif res.lower is not None and res.upper is not None:
                    cells.append(f"{res.value:.3f}\n±{(res.upper - res.lower) / 2:.3f}")
                else:
                    cells.append(f"{res.value:.3f}")
            if coverage:
                share = "" if b.label_coverage is None else f" ({b.label_coverage:.0%})"
                counts = [f"{b.predictions or 0:,}", f"{b.rows:,}{share}"]
            else:
                counts = [f"{b.rows:,}"]
            lines.append([b.key, *counts, *cells])
        for i, header in enumerate(headers):
            # As wide as the widest cell: rich would otherwise cut numbers to fit.
            widest = max(
                [len(header)]
                + [len(line) for cells_of in lines for line in cells_of[i].split("\n")]
            )
            bt.add_column(
                header, justify="left" if i == 0 else "right", no_wrap=True, min_width=widest
            )
        for cells_of in lines:
            bt.add_row(*cells_of)
        parts.append(bt)
    if report.drift is not None:
        parts.append(_drift(report.drift))
    return Group(*parts)


def _drift(doc: dict[str, Any]) -> Table:
    """The drift section: columns ranked, effect with interval, adjusted p, the call."""
    features = doc["features"]
    table = Table(
        title=f"Drift against {doc['reference']['path']}: {len(doc['drifted_columns'])} of "
        f"{len(features)} columns drifted",
        caption=doc["rule"].get("description"),
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in ("column", "effect", "95% interval", "p adj.", "drifted"):
        table.add_column(header, justify="left" if header in ("column", "drifted") else "right")
    for f in features:
        e = f["effect"]
        role = "" if f["role"] == "feature" else f" ({f['role']})"
        interval = "—" if e["lower"] is None else f"[{e['lower']:.3f}, {e['upper']:.3f}]"
        table.add_row(
            f"{f['name']}{role}",
            "—" if e["value"] is None else f"{e['value']:.3f} {f['method']['effect']}",
            interval,
            "—" if f["p_adjusted"] is None else f"{f['p_adjusted']:.2g}",
            Text("DRIFTED", style="bold red") if f["drifted"] else Text(f["status"], style="dim"),
        )
    return table
