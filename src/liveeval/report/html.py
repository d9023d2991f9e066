"""The report as one self-contained HTML page (inline CSS and SVG, no network)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..readiness.verdict import fmt
from .model import Report, confidence_level
from .svg import PALETTE, Series, heatmap, interval_chart, line_chart
from .terminal import BREAKDOWN, OPERATING_POINT, PER_CLASS, SHOWN, confusion_text

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
        if not rows:
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
    }


def render_html(report: Report) -> str:
    return _environment().get_template("report.html.j2").render(**_context(report), standalone=True)


def render_fragment(report: Report) -> str:
    return (
        _environment().get_template("report.html.j2").render(**_context(report), standalone=False)
    )
