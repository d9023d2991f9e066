"""The report in a terminal: the verdict first, then the evidence."""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..metrics import MetricResult
from ..metrics.registry import metric_names
from ..readiness.verdict import fmt
from .model import Report, confidence_level

__all__ = ["confusion_text", "render"]

STATUS_STYLE = {
    "pass": "bold green",
    "warn": "bold yellow",
    "fail": "bold red",
    "inconclusive": "bold magenta",
    "info": "cyan",
}

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


def _verdict(report: Report) -> Any:
    v = report.verdict
    assert v is not None
    table = Table(show_header=True, header_style="bold", expand=False, box=None, pad_edge=False)
    ci = f"{confidence_level(report.result.confidence)} CI"
    for col in ("", "metric", "value", ci, "target", "why"):
        table.add_column(col, overflow="fold")
    for c in v.checks:
        m = c.check.metric
        table.add_row(
            Text(c.status.upper(), style=STATUS_STYLE[c.status]),
            m,
            fmt(m, c.value),
            "—" if c.lower is None else f"{fmt(m, c.lower)} – {fmt(m, c.upper)}",
            f"{c.check.op} {fmt(m, c.check.target)}",
            c.reason,
        )
    title = Text(f"Verdict: {v.status.upper()}", style=STATUS_STYLE[v.status])
    return Panel(Group(Text(v.summary), Text(""), table), title=title, title_align="left")


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
        ops = Table(title="Operating points", header_style="bold")
        for col in ("objective", "threshold", *OPERATING_POINT, "flagged"):
            ops.add_column(col, justify="right" if col != "objective" else "left", no_wrap=True)
        for p in r.operating_points:
            if p.threshold is None:
                ops.add_row(p.objective, "—", p.reason or "", *([""] * len(OPERATING_POINT)))
                continue
            cm = p.confusion
            total = sum(map(sum, cm)) or 1.0
            flagged = (cm[0][1] + cm[1][1]) / total

            def ci(m: MetricResult) -> str:
                if m.value is None or m.lower is None or m.upper is None:
                    return _value("", m)
                return f"{m.value:.3f}\n±{(m.upper - m.lower) / 2:.3f}"

            ops.add_row(
                p.objective,
                f"{p.threshold:.4f}",
                *(ci(p.metrics[k]) for k in OPERATING_POINT),
                f"{flagged:.2%}",
            )
        parts.append(ops)

    for dim, groups in report.breakdowns.items():
        if not groups:
            continue
        title = f"By {dim}" + (
            f" ({report.time_unit})" if dim == "time" and report.time_unit else ""
        )
        bt = Table(title=title, header_style="bold")
        columns = [m for m in BREAKDOWN if m in groups[0].metrics]
        bt.add_column(dim, no_wrap=True)
        bt.add_column("rows", justify="right", no_wrap=True)
        for m in columns:
            bt.add_column(m, justify="right", no_wrap=True)
        if len(groups) > 60:
            parts.append(Text(f"{dim}: showing the first 60 of {len(groups)} groups", style="dim"))
        for b in groups[:60]:
            cells = []
            for m in columns:
                res = b.metrics[m]
                if res.value is None or res.zero_division is not None:
                    cells.append("—")
                elif res.lower is not None and res.upper is not None:
                    cells.append(f"{res.value:.3f}\n±{(res.upper - res.lower) / 2:.3f}")
                else:
                    cells.append(f"{res.value:.3f}")
            bt.add_row(b.key, f"{b.rows:,}", *cells)
        parts.append(bt)
    return Group(*parts)
