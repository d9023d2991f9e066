"""Champion against challenger: two versions of a model over the same period, metric
by metric with the interval of the difference, and how often their predictions flip
on the same inputs.

- **Difference of a metric** ``b − a``: MOVER (Zou & Donner 2008; for proportions
  Newcombe 1998's hybrid score interval) from each version's own interval:
  ``[d − √((b − l_b)² + (u_a − a)²), d + √((u_b − b)² + (a − l_a)²)]``. It treats the
  two versions' samples as independent; on shadow traffic (the same inputs) they are
  positively correlated, which makes this interval conservative. "Significant" means
  the interval excludes 0.
- **Flip rate**: the share of inputs predicted by both versions whose predicted label
  differs (Wilson interval). Inputs match by their features, name by name (see
  :meth:`~liveeval.store.StatisticsSource.prediction_pairs`).
- **Score volatility**: the mean absolute score difference on those inputs, and the
  mean signed difference ``b − a`` with a normal (CLT) interval.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..metrics import MetricResult
from ..metrics.interval import normal_mean, wilson
from ..report.model import metric_dict
from ..store import PairStats, Scope

if TYPE_CHECKING:
    from .core import Service

__all__ = ["SHADOW_HOWTO", "compare_versions", "difference"]

SHADOW_HOWTO = (
    "no input was predicted by both versions. To measure flips, log the challenger's "
    "predictions on the same inputs: POST /v1/predictions with version set to the "
    "challenger and the same features as the champion's prediction (shadow traffic: "
    "call both versions, answer with the champion, log both; `liveeval.client` logs "
    "each call). Inputs match by their features, whatever the key order."
)


def difference(a: MetricResult, b: MetricResult) -> dict[str, Any] | None:
    """``b − a`` with its MOVER interval; None when either value is undefined."""
    if (
        a.value is None
        or b.value is None
        or not (math.isfinite(a.value) and math.isfinite(b.value))
    ):
        return None
    d = b.value - a.value
    out: dict[str, Any] = {"value": d, "lower": None, "upper": None, "significant": None}
    limits = (a.lower, a.upper, b.lower, b.upper)
    if all(x is not None and math.isfinite(x) for x in limits):
        la, ua, lb, ub = (float(x) for x in limits)  # type: ignore[arg-type]
        out["lower"] = d - math.sqrt((b.value - lb) ** 2 + (ua - a.value) ** 2)
        out["upper"] = d + math.sqrt((ub - b.value) ** 2 + (a.value - la) ** 2)
        out["significant"] = not (out["lower"] <= 0.0 <= out["upper"])
        better = d > 0 if a.higher_is_better else d < 0
        out["better"] = (
            "b" if out["significant"] and better else ("a" if out["significant"] else None)
        )
    out["method"] = "MOVER (independent samples)"
    return out


MAX_WINDOWS = 500


def compare_versions(
    service: Service,
    model: str,
    a: str,
    b: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    every: timedelta | None = None,
) -> dict[str, Any]:
    """``GET /v1/models/{model}/compare``: metrics of versions ``a`` and ``b`` over the
    same range with their differences, and the flip rate on shared inputs — per
    window of ``every`` too (by the inputs' prediction time), for stability over time.

    Raises
    ------
    NotFoundError
        for an unknown model.
    """
    service.require_model(model)
    series = _windows(service, model, a, b, since, until, every) if every else None
    classes, pos_label, _ = service.model_meta(model, None)
    stats = {
        version: service.store.statistics(
            Scope(model, since, until, version), classes=classes, pos_label=pos_label
        )
        for version in (a, b)
    }
    results = {
        v: (s.evaluation.result().metrics if s.evaluation is not None else {})
        for v, s in stats.items()
    }
    metrics: dict[str, Any] = {}
    for name in sorted(set(results[a]) & set(results[b])):
        ma, mb = results[a][name], results[b][name]
        metrics[name] = {
            "a": metric_dict(ma),
            "b": metric_dict(mb),
            "difference": difference(ma, mb),
        }
    pairs = service.store.prediction_pairs(model, a, b, since, until)
    flips: dict[str, Any] = {"pairs": pairs.pairs, "flips": pairs.flips}
    notes = []
    if pairs.pairs:
        lower, upper = wilson(pairs.flips, pairs.pairs, 0.95)
        flips["flip_rate"] = {
            "value": pairs.flips / pairs.pairs,
            "lower": lower,
            "upper": upper,
            "n": pairs.pairs,
            "method": "wilson",
        }
    else:
        flips["flip_rate"] = None
        notes.append(SHADOW_HOWTO)
    if pairs.scored:
        lower, upper = normal_mean(pairs.diff_sum, pairs.diff_sq_sum, pairs.scored, 0.95)
        flips["score"] = {
            "pairs": pairs.scored,
            "mean_abs_difference": pairs.abs_diff_sum / pairs.scored,
            "mean_difference": {
                "value": pairs.diff_sum / pairs.scored,
                "lower": None if math.isnan(lower) else lower,
                "upper": None if math.isnan(upper) else upper,
                "method": "normal (CLT)",
            },
        }
    for version in (a, b):
        if stats[version].predictions == 0:
            notes.append(f"version {version!r} has no predictions in the range")
    if series is not None:
        flips["windows"] = series
    return {
        "model": model,
        "a": a,
        "b": b,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "predictions": {v: s.predictions for v, s in stats.items()},
        "labelled": {v: s.labelled for v, s in stats.items()},
        "metrics": metrics,
        "stability": flips,
        "notes": notes,
    }


def _windows(
    service: Service,
    model: str,
    a: str,
    b: str,
    since: datetime | None,
    until: datetime | None,
    every: timedelta,
) -> list[dict[str, Any]]:
    """Flip rate and mean absolute score difference per window: the inputs both
    versions predicted within the window. Windows end at ``until`` (default now) and
    go back to ``since`` (default: 24 windows), the most recent :data:`MAX_WINDOWS`
    at most; the first may be shorter."""
    from ._clock import now

    end = until or now()
    bounds: list[tuple[datetime, datetime]] = []
    hi = end
    while len(bounds) < (MAX_WINDOWS if since is not None else 24):
        try:
            lo = hi - every
        except OverflowError:  # before year 1
            lo = datetime.min
        if since is not None and lo <= since:
            if hi > since:
                bounds.append((since, hi))
            break
        bounds.append((lo, hi))
        if lo == datetime.min:
            break
        hi = lo
    if not bounds:
        return []
    found = service.store.prediction_pair_windows(model, a, b, bounds[-1][0], end, every)
    out = []
    for i in reversed(range(len(bounds))):
        lo, hi = bounds[i]
        p = found.get(i, PairStats())
        out.append(
            {
                "start": lo.isoformat(),
                "end": hi.isoformat(),
                "pairs": p.pairs,
                "flips": p.flips,
                "flip_rate": p.flips / p.pairs if p.pairs else None,
                "mean_abs_score_difference": p.abs_diff_sum / p.scored if p.scored else None,
            }
        )
    return out
