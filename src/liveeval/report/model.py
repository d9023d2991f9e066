"""The report: everything one evaluation found, in one typed object.

``Report.to_dict()`` is the JSON document described by
``liveeval/schema/report.schema.json``; ``to_html()`` is the self-contained page;
``__rich__`` draws it in a terminal and ``_repr_html_`` in Jupyter.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..metrics import EvaluationResult, MetricResult
from ..metrics.registry import metric_names
from ..readiness import Finding, Verdict

__all__ = [
    "DEFAULT_MATURITY",
    "SCHEMA_VERSION",
    "Breakdown",
    "Report",
    "Stage",
    "confidence_level",
    "metric_dict",
]

# 1.1: verdict mode and error_rates, check mode and settle_power, operating points'
# in_sample, interval_note and out_of_sample (cross-fitted) metrics.
# 1.2: time breakdowns carry predictions and label_coverage per window; windows without
# labelled rows are listed too.
# 1.3: time windows carry their maturity ``state`` (the level in ``maturity``); ``drift``
# holds the drift document (drift.schema.json) against a reference, or null.
SCHEMA_VERSION = "1.3"
# Label coverage from which a window is "realized" (the monitor's default).
DEFAULT_MATURITY = 0.9
# The per-class table of the JSON report: the catalogue's per-class metrics.
PER_CLASS = metric_names(role="per_class")


@dataclass(frozen=True)
class Breakdown:
    """Metrics of one version, segment or time bucket."""

    key: str
    rows: int
    metrics: dict[str, MetricResult]
    confusion_matrix: list[list[float]]
    # Time windows only: ok predictions in the window (labelled or not) and the labelled
    # share of them, so a window whose ground truth is still arriving says so.
    predictions: int | None = None
    label_coverage: float | None = None

    def state(self, maturity: float) -> str | None:
        """Time windows: ``empty`` (no ok prediction), ``estimating`` (label coverage
        below ``maturity``: the metrics describe only the labelled part so far) or
        ``realized``; None for other breakdowns."""
        if self.predictions is None:
            return None
        if not self.predictions or self.label_coverage is None:
            return "empty"
        return "realized" if self.label_coverage >= maturity else "estimating"


@dataclass(frozen=True)
class Stage:
    """Results on training or validation data, for the overfitting comparison."""

    name: str
    source: str
    result: EvaluationResult


def confidence_level(confidence: float) -> str:
    """A confidence level as people write it: 0.95 → '95%', 0.975 → '97.5%'.

    Examples
    --------
    >>> confidence_level(0.9), confidence_level(0.975), confidence_level(0.999)
    ('90%', '97.5%', '99.9%')
    """
    return f"{round(confidence * 100, 4):g}%"


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def metric_dict(m: MetricResult) -> dict[str, Any]:
    """A metric as JSON. An unbounded limit (±infinity) is null with ``lower_unbounded``
    / ``upper_unbounded`` true, so it never reads as "no interval"."""
    # Written out (no helper per number): a windows answer makes some 10,000 of these.
    value, lower, upper, weight = m.value, m.lower, m.upper, m.weight_total
    finite = math.isfinite
    return {
        "value": value if value is None or finite(value) else None,
        "lower": lower if lower is None or finite(lower) else None,
        "upper": upper if upper is None or finite(upper) else None,
        "lower_unbounded": lower is not None and lower == -math.inf,
        "upper_unbounded": upper is not None and upper == math.inf,
        "n": m.n,
        "confidence": m.confidence,
        "method": m.method,
        "reason": m.reason,
        "zero_division": m.zero_division,
        "higher_is_better": m.higher_is_better,
        "note": m.note,
        "weight_total": weight if weight is None or finite(weight) else None,
    }


@dataclass(frozen=True)
class Report:
    source: str
    rows_read: int
    rows_evaluated: int
    excluded: dict[str, int]
    columns: dict[str, Any]
    notes: list[str]
    result: EvaluationResult
    breakdowns: dict[str, list[Breakdown]] = field(default_factory=dict)
    time_unit: str | None = None
    findings: list[Finding] = field(default_factory=list)
    verdict: Verdict | None = None
    stages: list[Stage] = field(default_factory=list)
    threshold: float = 0.5
    # Drift of the file against a reference (the document of drift.schema.json).
    drift: dict[str, Any] | None = None
    maturity: float = DEFAULT_MATURITY
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    # -- access -----------------------------------------------------------------

    @property
    def metrics(self) -> dict[str, MetricResult]:
        return self.result.metrics

    def metric(self, name: str) -> MetricResult:
        return self.result.metric(name)

    @property
    def exit_code(self) -> int:
        """0 pass (or no profile), 1 fail, 3 inconclusive — the ``check`` command's codes."""
        return 0 if self.verdict is None else self.verdict.exit_code

    # -- JSON -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        from .. import __version__

        r = self.result
        curves: dict[str, Any] = {}
        if r.roc_curve:
            curves["roc"] = r.roc_curve
        if r.pr_curve:
            curves["pr"] = r.pr_curve
        if r.calibration:
            curves["calibration"] = [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "weight": b.weight,
                    "mean_score": b.mean_score,
                    "observed_rate": b.observed_rate,
                }
                for b in r.calibration
            ]
        if r.threshold_curve:
            curves["threshold"] = r.threshold_curve
        doc = {
            "schema_version": SCHEMA_VERSION,
            "liveeval_version": __version__,
            "generated_at": self.generated_at,
            "source": {
                "path": self.source,
                "rows_read": self.rows_read,
                "rows_evaluated": self.rows_evaluated,
                "excluded": [{"reason": k, "rows": v} for k, v in self.excluded.items()],
                "columns": self.columns,
                "notes": self.notes,
            },
            "task": {
                "kind": r.kind,
                "labels": list(r.labels),
                "pos_label": r.pos_label,
                "threshold": self.columns.get("threshold"),
                "confidence": r.confidence,
            },
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "metrics": {name: metric_dict(m) for name, m in r.metrics.items()},
            "confusion_matrix": {
                "labels": list(r.labels),
                "layout": "rows are actual classes, columns predicted classes",
                "matrix": r.confusion_matrix,
            },
            "per_class": [
                {
                    "label": row["label"],
                    "support": row["support"],
                    **{k: metric_dict(row[k]) for k in PER_CLASS},
                }
                for row in r.per_class
            ],
            "curves": curves,
            "operating_points": [p.to_dict() for p in r.operating_points],
            "breakdowns": {
                dim: [
                    {
                        "key": b.key,
                        "rows": b.rows,
                        "confusion_matrix": b.confusion_matrix,
                        "metrics": {k: metric_dict(v) for k, v in b.metrics.items()},
                        **(
                            {
                                "predictions": b.predictions,
                                "label_coverage": b.label_coverage,
                                "state": b.state(self.maturity),
                            }
                            if b.predictions is not None
                            else {}
                        ),
                    }
                    for b in rows
                ]
                for dim, rows in self.breakdowns.items()
            },
            "time_unit": self.time_unit,
            "maturity": self.maturity,
            "drift": self.drift,
            "stages": {
                s.name: {
                    "source": s.source,
                    "rows": s.result.rows,
                    "metrics": {k: metric_dict(v) for k, v in s.result.metrics.items()},
                }
                for s in self.stages
            },
        }
        cleaned: dict[str, Any] = _clean(doc)
        return cleaned

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, default=str)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    # -- HTML and terminal ------------------------------------------------------

    def to_html(self, path: str | Path | None = None) -> str:
        from .html import render_html

        page = render_html(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def _repr_html_(self) -> str:
        from .html import render_fragment

        return render_fragment(self)

    def __rich__(self) -> Any:
        from .terminal import render

        return render(self)
