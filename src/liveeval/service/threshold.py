"""The live threshold curve of a binary model: the confusion matrix and metrics at
every threshold of the labelled predictions, and the recommended operating points.

The same engine as ``liveeval threshold`` on a file (:meth:`Evaluation.curve` and
:meth:`ThresholdCurve.recommend`), read from the store's statistics for a scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.threshold import IN_SAMPLE_NOTE
from ..store import Scope

if TYPE_CHECKING:
    from .core import Service

__all__ = ["threshold_curve"]

CURVE_POINTS = 200


def threshold_curve(
    service: Service,
    model: str,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    segment: str | None = None,
    min_recall: float | None = None,
    min_precision: float | None = None,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The threshold curve (about 200 thresholds, evenly spaced in score) with the
    confusion counts at each, and the operating points for max F1, ``min_recall``,
    ``min_precision`` and the minimum expected cost.

    ``min_recall`` / ``min_precision`` default to the targets of the model's profile
    (its ``recall >= …`` and ``precision >= …`` checks). The operating points' metrics
    are in-sample (the threshold is chosen on the rows they are measured on); their
    ``out_of_sample`` metrics are cross-fitted. ``curve`` is ``null`` with a
    ``reason`` when there is no binary score with labels in the scope.

    Raises
    ------
    NotFoundError
        for a model neither served nor seen.
    """
    service.require_model(model)
    if window is not None:
        start = service.since_window(window)
        since = start if since is None or (start is not None and start > since) else since
    classes, pos_label, profile_name = service.model_meta(model, version)
    targets: dict[str, float] = {}
    if profile_name:
        for check in service.profile(profile_name).checks:
            if check.metric in ("recall", "precision") and check.op in (">=", ">"):
                targets.setdefault(check.metric, float(check.target))
    if min_recall is None:
        min_recall = targets.get("recall")
    if min_precision is None:
        min_precision = targets.get("precision")
    body: dict[str, Any] = {
        "model": model,
        "scope": {
            "window": window,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "version": version,
            "segment": segment,
        },
        "profile": profile_name,
        "current_threshold": _current_threshold(service, model, version),
        "targets": {"min_recall": min_recall, "min_precision": min_precision},
        "costs": {"cost_fp": cost_fp, "cost_fn": cost_fn},
        "labels": None,
        "positives": None,
        "negatives": None,
        "curve": None,
        "operating_points": [],
        "in_sample_note": IN_SAMPLE_NOTE,
        "reason": None,
    }
    stats = service.store.statistics(
        Scope(model, since, until, version, segment), classes=classes, pos_label=pos_label
    )
    evaluation = stats.evaluation
    curve = evaluation.curve() if evaluation is not None else None
    if curve is None or curve.thresholds.size == 0:
        body["reason"] = (
            "no labelled predictions in this range"
            if evaluation is None or stats.labelled == 0
            else "the model has no binary score: a threshold curve needs P(positive)"
        )
        return body
    # The curve and its operating points alone, as `Evaluation.result` computes them:
    # the page shows no other metric (a full result's intervals, ROC and PR curves and
    # calibration were most of this read).
    sampled: dict[str, Any] = dict(curve.sampled(cost_fp=cost_fp, cost_fn=cost_fn))
    points = curve.recommend(
        min_recall=min_recall,
        min_precision=min_precision,
        cost_fp=cost_fp,
        cost_fn=cost_fn,
        confidence=confidence,
    )
    positives = float(curve.tp[0] + curve.fn[0])
    negatives = float(curve.fp[0] + curve.tn[0])
    tp = np.array([np.nan if v is None else v for v in sampled.get("tp", [])], dtype=float)
    fp = np.array([np.nan if v is None else v for v in sampled.get("fp", [])], dtype=float)
    sampled["fn"] = [float(v) for v in np.maximum(positives - tp, 0.0)]
    sampled["tn"] = [float(v) for v in np.maximum(negatives - fp, 0.0)]
    body.update(
        labels=list(curve.labels),
        positives=positives,
        negatives=negatives,
        curve=sampled,
        operating_points=[p.to_dict() for p in points],
    )
    return body


def _current_threshold(service: Service, model: str, version: str | None) -> float | None:
    versions = service.models.get(model)
    if not versions:
        return None
    loaded = versions.get(version or service.default_version[model]) or next(
        iter(versions.values())
    )
    return float(loaded.spec.threshold)
