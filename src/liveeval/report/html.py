"""The report as one self-contained HTML page (inline CSS and SVG, no network)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..metrics import MetricResult
from ..readiness.verdict import fmt
from .model import Breakdown, Report, confidence_level
from .svg import (
    PALETTE,
    Band,
    Series,
    band_chart,
    heatmap,
    histogram_chart,
    interval_chart,
    line_chart,
)
from .terminal import (
    BREAKDOWN,
    MODE_SHORT,
    MODE_WORDS,
    OPERATING_POINT,
    PER_CLASS,
    SHOWN,
    check_interval,
    confusion_text,
    interval_notes,
)

__all__ = ["render_fragment", "render_html"]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("liveeval.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = lambda v, name="": fmt(name, v)
    return env


def _charts(report: Report) -> dict[str, Any]:
    r = report.result
    charts: dict[str, Any] = {}
    labels = [str(label) for label in r.labels]
    charts["confusion"] = Markup(heatmap(labels, r.confusion_matrix, title="Confusion matrix"))
    if r.roc_curve:
        auc = r.metrics["roc_auc"].value
        charts["roc"] = Markup(
            line_chart(
                [Series("ROC", r.roc_curve["fpr"], r.roc_curve["tpr"])],
                title=f"ROC curve (AUC {auc:.4f})" if auc is not None else "ROC curve",
                x_label="false positive rate",
                y_label="true positive rate (recall)",
                diagonal=True,
            )
        )
    if r.pr_curve:
        ap = r.metrics["average_precision"].value
        prevalence = r.metrics.get("prevalence")
        series = [Series("precision-recall", r.pr_curve["recall"], r.pr_curve["precision"])]
        if prevalence is not None and prevalence.value is not None:
            series.append(
                Series(
                    "chance (prevalence)", [0, 1], [prevalence.value] * 2, "#94a3b8", dashed=True
                )
            )
        charts["pr"] = Markup(
            line_chart(
                series,
                title=f"Precision-recall (AP {ap:.4f})" if ap is not None else "Precision-recall",
                x_label="recall",
                y_label="precision",
            )
        )
    if r.threshold_curve:
        t = r.threshold_curve
        charts["threshold"] = Markup(
            line_chart(
                [
                    Series("precision", t["threshold"], t["precision"], PALETTE[0]),
                    Series("recall", t["threshold"], t["recall"], PALETTE[1]),
                    Series("F1", t["threshold"], t["f1"], PALETTE[2]),
                ],
                title="Metrics by decision threshold",
                x_label="threshold (score ≥ t is positive)",
                y_label="value",
                width=480,
                marker_x=report.columns.get("threshold"),
            )
        )
    if r.calibration:
        xs = [b.mean_score for b in r.calibration]
        ys = [b.observed_rate for b in r.calibration]
        what = "P(positive)" if r.kind == "binary" else "top-class confidence"
        ece = r.metrics.get("expected_calibration_error")
        charts["calibration"] = Markup(
            line_chart(
                [Series("model", xs, ys, PALETTE[3], points=True)],
                title="Calibration"
                + (f" (ECE {ece.value:.4f})" if ece is not None and ece.value is not None else ""),
                x_label=f"mean predicted {what}",
                y_label="observed rate",
                diagonal=True,
            )
        )
    breakdown_charts = []
    for dim, rows in report.breakdowns.items():
        if not rows or (dim == "time" and _is_windows(rows)):
            continue
        for metric in ("recall", "precision", "accuracy") if r.kind == "binary" else ("accuracy",):
            present = [b for b in rows if metric in b.metrics]
            if not present:
                continue
            overall = r.metrics.get(metric)
            breakdown_charts.append(
                Markup(
                    interval_chart(
                        [b.key for b in present],
                        [
                            b.metrics[metric].value
                            if b.metrics[metric].zero_division is None
                            else None
                            for b in present
                        ],
                        [b.metrics[metric].lower for b in present],
                        [b.metrics[metric].upper for b in present],
                        title=f"{metric} by {dim}"
                        + (f" ({report.time_unit})" if dim == "time" else ""),
                        y_label=metric,
                        reference=None if overall is None else overall.value,
                        # Few groups: three small charts a row; a time series gets the width.
                        width=1120 if dim == "time" else 360,
                        height=240,
                    )
                )
            )
    charts["breakdowns"] = breakdown_charts
    return charts


def _is_windows(rows: list[Breakdown]) -> bool:
    """A time breakdown with label coverage: shown as the windows section."""
    return bool(rows) and rows[0].predictions is not None


# The metrics a window shows, in order: the first two present are charted over time.
_WINDOW_METRICS = ("recall", "precision", "f1", "accuracy", "roc_auc")


def _windows(report: Report) -> dict[str, Any] | None:
    """Per time window: predictions, labelled, coverage, maturity, key metrics with
    intervals, and a chart of the first metrics over time with interval bands."""
    rows = report.breakdowns.get("time") or []
    if not _is_windows(rows):
        return None
    present = {n for b in rows for n in b.metrics}
    wanted = _WINDOW_METRICS if report.result.kind == "binary" else ("accuracy",)
    names = [n for n in wanted if n in present]
    states = [b.state(report.maturity) for b in rows]
    charts = []
    for i, name in enumerate(names[:2]):

        def cell(b: Breakdown, attr: str, name: str = name) -> float | None:
            m = b.metrics.get(name)
            if m is None or m.value is None or m.zero_division is not None:
                return None
            v: float | None = getattr(m, attr)
            return v

        charts.append(
            Markup(
                band_chart(
                    [b.key for b in rows],
                    [
                        Band(
                            name,
                            [cell(b, "value") for b in rows],
                            [cell(b, "lower") for b in rows],
                            [cell(b, "upper") for b in rows],
                            PALETTE[i],
                        )
                    ],
                    title=f"{name} per window, with its {confidence_level(report.result.confidence)} interval",
                    y_label=name,
                    muted=[st == "estimating" for st in states],
                    # Narrow enough that its labels stay legible scaled to a phone.
                    width=560,
                )
            )
        )
    return {
        "rows": list(zip(rows, states, strict=True)),
        "names": names,
        "charts": charts,
        "maturity": report.maturity,
        "unit": report.time_unit,
    }


def _drift(report: Report) -> dict[str, Any] | None:
    """The drift document's columns, ranked, each with its histogram chart."""
    doc = report.drift
    if doc is None:
        return None
    alpha = float(doc["rule"].get("alpha", 0.05))
    columns = []
    for f in doc["features"]:
        h = f.get("histogram") or {}
        role = "" if f["role"] == "feature" else f" ({f['role']})"
        columns.append(
            {
                **f,
                "label": f"{f['name']}{role}",
                "decided": _decided(f, alpha),
                "chart": Markup(
                    histogram_chart(
                        h.get("bins", []),
                        h.get("reference", []),
                        h.get("current", []),
                        title=f"{f['name']}{role}: share per bin",
                        width=560,
                    )
                ),
            }
        )
    return {
        "doc": doc,
        "columns": columns,
        "rule": doc["rule"].get("description", ""),
        "status_words": {
            "drifted": "DRIFTED",
            "not_drifted": "no",
            "too_few_rows": "no call (too few rows)",
            "undefined": "undefined",
        },
    }


def _decided(f: dict[str, Any], alpha: float) -> str:
    """Which condition of the rule decided this column's call, in numbers."""
    e, p = f["effect"]["value"], f["p_adjusted"]
    thr = f["effect"]["threshold"]
    effect = "effect undefined" if e is None else f"effect {e:.3f}"
    if f["status"] == "drifted":
        return f"{effect} ≥ {thr:g} and adjusted p {p:.2g} < {alpha:g}"
    if f["status"] == "too_few_rows":
        return f.get("reason") or "too few rows for a call"
    if p is None:
        return f.get("reason") or "no test"
    if e is not None and e < thr:
        return f"{effect} < {thr:g}" + (f" (adjusted p {p:.2g})" if p < alpha else "")
    return f"adjusted p {p:.2g} ≥ {alpha:g}" + (f" ({effect} ≥ {thr:g})" if e is not None else "")


def _point_cell(m: MetricResult | None) -> Markup:
    """An operating point's metric: the value and, muted, its interval."""
    if m is None:
        return Markup("—")
    if m.value is None:
        return Markup("undefined")
    cell = Markup("{:.3f}").format(m.value)
    if m.lower is not None and m.upper is not None:
        cell += Markup(' <span class="muted">[{:.3f}, {:.3f}]</span>').format(m.lower, m.upper)
    return cell


def _context(report: Report) -> dict[str, Any]:
    r = report.result
    metrics = [(name, r.metrics[name]) for name in SHOWN if name in r.metrics]
    return {
        "report": report,
        "r": r,
        "metrics": metrics,
        "charts": _charts(report),
        "confusion_text": confusion_text(report),
        "verdict": report.verdict,
        "ci": f"{confidence_level(r.confidence)} CI",
        "level": confidence_level(r.confidence),
        "per_class_names": PER_CLASS,
        "operating_point_names": OPERATING_POINT,
        "breakdown_names": BREAKDOWN,
        "mode_words": MODE_WORDS,
        "mode_short": MODE_SHORT,
        "point_cell": _point_cell,
        "check_interval": check_interval,
        "interval_notes": interval_notes(r.operating_points),
        "windows": _windows(report),
        "drift": _drift(report),
    }


def render_html(report: Report) -> str:
    return _environment().get_template("report.html.j2").render(**_context(report), standalone=True)


def render_fragment(report: Report) -> str:
    return (
        _environment().get_template("report.html.j2").render(**_context(report), standalone=False)
    )
