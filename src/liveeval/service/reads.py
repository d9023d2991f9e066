"""Reads: live metrics for a scope, the models known, and the Prometheus gauges.

Every read goes through the store's statistics source and turns the sufficient
statistics into metrics here; nothing stored can make a read fail (labels are
resolved by canonical key; pairs labelled outside a declared model's classes are left
out of the metrics and counted in a note).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import LiveevalError
from ..metrics.registry import metric_names
from ..readiness import accuracy_paradox, single_class, verdict
from ..report.model import metric_dict
from ..store import Scope

if TYPE_CHECKING:
    from .core import Service

__all__ = ["known_models", "metrics", "models_listing", "quality_rows"]

LIVE_GAUGES = metric_names(live=True)


def known_models(service: Service) -> set[str]:
    """Served models, models declared as logged elsewhere, and models seen in the logs."""
    return set(service.models) | set(service.logged) | service.store.models()


def models_listing(service: Service) -> dict[str, Any]:
    """Served models with their schema, and every model seen in the logs."""
    served = {
        name: [
            {
                "version": v,
                "classes": list(m.classes),
                "pos_label": m.pos_label,
                "features": list(m.features),
                "feature_types": m.feature_types,
                "predicts": "score" if m.is_binary else ("probas" if m.has_proba else "label"),
            }
            for v, m in versions.items()
        ]
        for name, versions in service.models.items()
    }
    return {"served": served, "known": sorted(known_models(service))}


def metrics(
    service: Service,
    model: str,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    segment: str | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Live metrics with intervals for one model (optionally a version, segment and
    time range), and the verdict of ``profile`` (or the model's default profile).

    Raises
    ------
    NotFoundError
        for a model neither served nor seen, or an unknown profile.
    """
    service.require_model(model)
    if window is not None:
        # Both restrict the range: the later start wins.
        start = service.since_window(window)
        since = start if since is None or (start is not None and start > since) else since
    classes, pos_label, default_profile = service.model_meta(model, version)
    chosen = profile or default_profile
    judged = service.profile(chosen) if chosen else None
    stats = service.store.statistics(
        Scope(model, since, until, version, segment), classes=classes, pos_label=pos_label
    )
    body: dict[str, Any] = {
        "model": model,
        "scope": {
            "window": window,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "version": version,
            "segment": segment,
        },
        "predictions": stats.predictions,
        "failed_predictions": stats.failed,
        "labelled": stats.labelled,
        "label_coverage": stats.label_coverage,
        "unmatched_outcomes": stats.unmatched_outcomes,
        "labels": list(stats.labels),
        "notes": list(stats.notes),
        "metrics": {k: metric_dict(m) for k, m in stats.business_metrics().items()},
        "confusion_matrix": None,
        "verdict": None,
    }
    if since is not None and until is not None and until <= since:
        body["notes"].append(
            f"the range is empty: 'until' ({until}) is not after 'since' ({since})"
        )
    if stats.evaluation is None:
        return body
    result = stats.evaluation.result()
    body["metrics"].update({k: metric_dict(m) for k, m in result.metrics.items()})
    if result.labels:  # none before a model known only from its logs has a label
        body["confusion_matrix"] = {
            "labels": list(result.labels),
            "layout": "rows are actual classes, columns predicted classes",
            "matrix": result.confusion_matrix,
        }
    body["pos_label"] = result.pos_label
    if judged is not None:
        recall_target = next((c.target for c in judged.checks if c.metric == "recall"), None)
        findings = accuracy_paradox(result, recall_target) + single_class(result)
        # Live verdicts are looked at again and again as labels arrive: anytime-valid
        # evidence (confidence sequences), so a model at its target never passes or
        # fails at any look with more than the stated probability.
        body["verdict"] = verdict(
            judged,
            result,
            findings,
            mode="anytime",
            latency=stats.evaluation.latency,
        ).to_dict()
    return body


def quality_rows(service: Service) -> list[dict[str, Any]]:
    """Live quality per model and version over the configured window (Prometheus).

    One model whose statistics cannot be computed is left out and logged; it never
    takes the whole exposition down.
    """
    import logging

    if not service.started:
        return []
    since = service.since_window(service.config.window)
    rows = []
    for model, version in service.store.versions_since(since):
        classes, pos_label, _ = service.model_meta(model, version)
        try:
            stats = service.store.statistics(
                Scope(model, since, None, version), classes=classes, pos_label=pos_label
            )
            row: dict[str, Any] = {
                "model": model,
                "version": version,
                "labelled": stats.labelled,
                "label_coverage": stats.label_coverage,
            }
            row["drift"] = _drift_gauges(service, model, version)
            if stats.evaluation is not None and stats.labelled:
                results = stats.evaluation.result().metrics
                for name in LIVE_GAUGES:
                    m = results.get(name)
                    if m is not None and m.is_defined:
                        row[name] = m.value
        except LiveevalError:
            logging.getLogger("liveeval").exception(
                "live quality of model %r version %r could not be computed", model, version
            )
            continue
        rows.append(row)
    return rows


def _drift_gauges(service: Service, model: str, version: str) -> list[tuple[str, float, bool]]:
    """(column, effect, drifted) of the last full window against the 7 days before it;
    nothing when the window is not a multiple of 15m or a side has too few rows."""
    import logging
    import math
    from datetime import timedelta

    from ..config import parse_window
    from ..store.interface import ROLLUP_BUCKET
    from ._clock import now
    from .drift import drift_of

    every = parse_window(service.config.window)
    if every % ROLLUP_BUCKET:
        return []
    end = datetime(1970, 1, 1) + ((now() - datetime(1970, 1, 1)) // every) * every
    classes, pos_label, _ = service.model_meta(model, version)
    try:
        answer = drift_of(
            service.store,
            model,
            reference="previous:7d",
            window=service.config.window,
            since=end - every,
            until=end - timedelta(microseconds=1),
            version=version,
            classes=classes,
            pos_label=pos_label,
        )
    except LiveevalError:
        logging.getLogger("liveeval").exception(
            "drift of model %r version %r could not be computed", model, version
        )
        return []
    out = []
    for window in answer["windows"][-1:]:
        for cell in window["columns"]:
            value = cell["effect"]
            if cell["status"] in ("drifted", "not_drifted") and value is not None:
                if math.isfinite(value):
                    out.append((str(cell["name"]), float(value), bool(cell["drifted"])))
    return out
