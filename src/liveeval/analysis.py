"""``evaluate``: from a prediction log to a :class:`~liveeval.report.Report`.

This is the one place that strings the layers together: read the data, validate
it into arrays, build the mergeable statistics, turn them into metrics with
intervals, run the pitfall checks and judge the result against a profile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .data.columns import ColumnSpec, Prepared, prepare, timestamps
from .data.reader import Progress, read_table, to_table
from .errors import ValidationError
from .metrics import Evaluation, EvaluationResult
from .metrics.evaluation import predict_from_score
from .metrics.grouped import grouped_evaluations
from .metrics.ranking import DEFAULT_EXACT_LIMIT
from .readiness import (
    Finding,
    Profile,
    accuracy_paradox,
    duplicate_rows,
    later_training_rows,
    load_profile,
    overfitting,
    single_class,
    single_feature_leaks,
    too_few_labels,
    verdict,
)
from .report.model import DEFAULT_MATURITY, Breakdown, Report, Stage

__all__ = ["Options", "check_options", "evaluate"]

GROUP_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "prevalence")


@dataclass(frozen=True)
class Options:
    """How to compute, beyond which columns hold what."""

    confidence: float = 0.95
    beta: float = 2.0
    min_recall: float | None = None
    min_precision: float | None = None
    cost_fp: float | None = None
    cost_fn: float | None = None
    calibration_bins: int = 10


def check_options(
    *,
    confidence: float = 0.95,
    min_recall: float | None = None,
    min_precision: float | None = None,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    flag: Callable[[str], str] = lambda name: name,
) -> None:
    """Range checks of the numbers that steer the report.

    ``flag`` turns a parameter name into the name the user typed (the CLI passes
    ``--min-recall`` for ``min_recall``). A missing cost counts as 1, as in
    :meth:`~liveeval.metrics.Evaluation.result`.

    Raises
    ------
    ValidationError
        ``confidence`` outside (0, 1); a target recall or precision outside [0, 1];
        a cost that is negative or not finite, or both costs 0.
    """
    if not 0.0 < confidence < 1.0:
        raise ValidationError(
            f"{flag('confidence')} {confidence!r} is not a confidence level in (0, 1), such as 0.95"
        )
    for name, target in (("min_recall", min_recall), ("min_precision", min_precision)):
        if target is not None and not 0.0 <= target <= 1.0:
            what = name.removeprefix("min_")
            raise ValidationError(f"{flag(name)} {target!r} is not a {what} in [0, 1]")
    for name, cost in (("cost_fp", cost_fp), ("cost_fn", cost_fn)):
        if cost is not None and not (math.isfinite(cost) and cost >= 0.0):
            raise ValidationError(f"{flag(name)} {cost!r} is not a finite cost >= 0")
    if (cost_fp is not None or cost_fn is not None) and (
        (1.0 if cost_fp is None else cost_fp) == 0.0
        and (1.0 if cost_fn is None else cost_fn) == 0.0
    ):
        raise ValidationError(
            f"{flag('cost_fp')} and {flag('cost_fn')} are both 0, so every threshold costs "
            "nothing; give at least one positive cost"
        )


def _load(data: Any, spec: ColumnSpec, progress: Progress | None) -> tuple[pa.Table, str]:
    if isinstance(data, (str, Path)):
        return read_table(data, None, progress=progress), str(data)
    return to_table(data), "<table>"


def _prepare(table: pa.Table, spec: ColumnSpec, source: str) -> Prepared:
    """Validate, making sure every error names the data it came from."""
    try:
        return prepare(table, spec, source)
    except ValidationError as exc:
        raise exc if exc.source else exc.located(source) from None


def _evaluation(
    prepared: Prepared, spec: ColumnSpec, *, exact_limit: int = DEFAULT_EXACT_LIMIT
) -> tuple[Evaluation, Any]:
    """The statistics of validated rows, and the predicted codes (given, or derived
    from the score or probabilities). ``exact_limit`` as :class:`ScoreDistribution`'s."""
    ev = Evaluation.create(
        prepared.labels,
        pos_label=prepared.pos_label,
        with_scores=prepared.score is not None or prepared.proba is not None,
        exact_limit=exact_limit,
    )
    pred = prepared.pred_codes
    if pred is None and prepared.score is not None:
        pos = prepared.labels.index(prepared.pos_label)
        pred = predict_from_score(prepared.score, spec.threshold, pos)
    argmax = None
    if prepared.proba is not None:
        argmax = np.argmax(prepared.proba, axis=1).astype(np.int64)
        if pred is None:
            pred = argmax
    ev.update_codes(
        prepared.true_codes,
        pred,
        score=prepared.score,
        proba=prepared.proba,
        weight=prepared.weight,
        threshold=spec.threshold,
        argmax=argmax,
    )
    if prepared.latency_seconds is not None or prepared.failed is not None:
        ev.update_operational(latency_seconds=prepared.latency_seconds, failed=prepared.failed)
    return ev, pred


def _result(ev: Evaluation, options: Options) -> EvaluationResult:
    return ev.result(
        options.confidence,
        beta=options.beta,
        min_recall=options.min_recall,
        min_precision=options.min_precision,
        cost_fp=options.cost_fp,
        cost_fn=options.cost_fn,
        calibration_bins=options.calibration_bins,
    )


def _group_evaluations(prepared: Prepared, pred: Any) -> dict[str, list[tuple[str, Evaluation]]]:
    """Per breakdown dimension (version, segment, time): each group's key and statistics."""
    out: dict[str, list[tuple[str, Evaluation]]] = {}
    for dim, (keys, codes) in prepared.groups.items():
        evaluations = grouped_evaluations(
            codes,
            len(keys),
            prepared.labels,
            prepared.pos_label,
            prepared.true_codes,
            pred,
            score=prepared.score,
            weight=prepared.weight,
        )
        out[dim] = list(zip(keys, evaluations, strict=True))
    return out


def _breakdowns(
    groups: dict[str, list[tuple[str, Evaluation]]],
    window_counts: dict[str, tuple[int, int]],
    options: Options,
) -> dict[str, list[Breakdown]]:
    out: dict[str, list[Breakdown]] = {}
    for dim, evaluations in groups.items():
        rows = []
        for key, ev in evaluations:
            if ev.confusion.total <= 0:
                continue
            result = ev.result(options.confidence)
            metrics = {m: result.metrics[m] for m in GROUP_METRICS if m in result.metrics}
            rows.append(Breakdown(key, result.rows, metrics, result.confusion_matrix))
        if dim == "time" and window_counts:
            rows = _with_coverage(rows, window_counts)
        out[dim] = rows
    return out


def _with_coverage(rows: list[Breakdown], counts: dict[str, tuple[int, int]]) -> list[Breakdown]:
    """Time windows with their label coverage, and the windows that have predictions but
    no labelled row yet (empty metrics), in time order."""
    by_key = {b.key: b for b in rows}
    out = []
    for key in sorted(counts):
        predictions, labelled = counts[key]
        b = by_key.get(key) or Breakdown(key, 0, {}, [])
        coverage = labelled / predictions if predictions else None
        out.append(replace(b, predictions=predictions, label_coverage=coverage))
    return out


def _features(
    table: pa.Table, spec: ColumnSpec, prepared: Prepared, given: Sequence[str] | None
) -> list[str]:
    if given is not None:
        missing = [c for c in given if c not in table.column_names]
        if missing:
            raise ValidationError(f"feature column(s) {missing} not found (given by --features)")
        repeated = [c for c in given if c in prepared.duplicated]
        if repeated:
            raise ValidationError(
                f"feature column name(s) {repeated} head more than one column; rename them "
                "so each name is unique"
            )
        return list(dict.fromkeys(given))
    used = set(spec.named_columns()) | set(prepared.columns_used.get("proba") or [])
    used |= {v for v in prepared.columns_used.values() if isinstance(v, str)}
    used |= set(prepared.duplicated)
    # Identifiers differ between any two rows by design; they are not features; nor
    # are lists and structs, which no leakage check can compare.
    return [
        f.name
        for f in table.schema
        if f.name not in used
        and not (f.name.lower() == "id" or f.name.lower().endswith("_id"))
        and not pa.types.is_nested(f.type)
    ]


def evaluate(
    data: Any,
    *,
    label: str,
    pred: str | None = None,
    score: str | None = None,
    proba: Sequence[str] | None = None,
    proba_prefix: str | None = None,
    pos_label: Any = None,
    labels: Sequence[Any] | None = None,
    time: str | None = None,
    window: str | None = None,
    version: str | None = None,
    segment: str | None = None,
    weight: str | None = None,
    latency: str | None = None,
    latency_unit: str | None = None,
    status: str | None = None,
    threshold: float = 0.5,
    profile: str | Path | Profile | None = None,
    train: Any = None,
    validation: Any = None,
    features: Sequence[str] | None = None,
    confidence: float = 0.95,
    min_recall: float | None = None,
    min_precision: float | None = None,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    beta: float = 2.0,
    reference: Any = None,
    maturity: float = DEFAULT_MATURITY,
    progress: Progress | None = None,
    engine: str = "local",
) -> Report:
    """Evaluate logged predictions: every metric with its interval, pitfalls and a verdict.

    Parameters
    ----------
    data:
        A path to a CSV, Parquet or JSON Lines file, or a pyarrow Table, pandas
        or polars DataFrame, or a dict of columns.
    label, pred, score, proba, proba_prefix:
        Column names: the true label; the predicted label (derived from
        ``score`` ≥ ``threshold`` or the argmax of the probabilities when absent);
        a binary score; or one probability column per class.
    time, window:
        The prediction-time column, and the length of the time breakdown's tumbling
        windows (``15m``, ``1h``, ``1d``; default: the calendar unit that gives at most
        48 buckets). Each window shows its label coverage.
    profile:
        A built-in profile name (``fraud``, ``spam`` …), a TOML path, or a
        :class:`~liveeval.readiness.Profile`; adds a verdict.
    train, validation:
        Optional training and validation data with the same columns, for the
        overfitting and leakage checks.
    reference:
        Optional data to compare the file's features (and label, score and predicted
        label, where the reference has them) with: the report gains a drift section
        (``liveeval.monitor.compare_tables``: ranked, effect sizes with intervals,
        Benjamini–Hochberg-adjusted p-values and the rule that decided).
    maturity:
        Label coverage from which a time window is ``realized`` rather than
        ``estimating`` (default 0.9), in (0, 1].
    engine:
        ``"local"`` (read and validate in this process) or ``"spark"``: ``data`` is
        Parquet — a file, a folder, a glob such as ``logs/*.parquet``, a list of files
        or a Spark DataFrame — and PySpark aggregates the sufficient statistics, which
        give the same report (docs/spark.md). The Spark engine runs no check that needs
        rows (training and validation data, single-feature leakage).

    Examples
    --------
    >>> report = evaluate({"y": [1, 1, 0, 0], "s": [0.9, 0.4, 0.2, 0.1]}, label="y", score="s")
    >>> report.metric("recall").value
    0.5
    """
    check_options(
        confidence=confidence,
        min_recall=min_recall,
        min_precision=min_precision,
        cost_fp=cost_fp,
        cost_fn=cost_fn,
    )
    spec = ColumnSpec(
        label=label,
        pred=pred,
        score=score,
        proba=tuple(proba) if proba else None,
        proba_prefix=proba_prefix,
        pos_label=pos_label,
        labels=tuple(labels) if labels is not None else None,
        time=time,
        version=version,
        segment=segment,
        weight=weight,
        latency=latency,
        latency_unit=latency_unit,
        status=status,
        threshold=threshold,
        window=window,
    )
    if not (isinstance(maturity, (int, float)) and 0.0 < maturity <= 1.0):
        raise ValidationError(f"maturity {maturity!r} is not a label coverage in (0, 1]")
    options = Options(confidence, beta, min_recall, min_precision, cost_fp, cost_fn)
    prof = profile if isinstance(profile, Profile) or profile is None else load_profile(profile)
    if engine == "spark":
        if train is not None or validation is not None or features is not None:
            raise ValidationError(
                "training/validation data and --features are checked by the local engine "
                "only; run those checks without --engine spark"
            )
        if reference is not None:
            raise ValidationError(
                "the report's drift section (--reference) is computed by the local engine "
                "only; for drift at scale run `liveeval drift --engine spark REF CUR`"
            )
        return _evaluate_spark(data, spec, options, prof, threshold)
    if engine != "local":
        raise ValidationError(f"engine {engine!r} is not one of 'local', 'spark'")

    table, source = _load(data, spec, progress)
    prepared = _prepare(table, spec, source)
    # The spec as applied: operational columns found by name are part of it.
    spec = prepared.spec or spec
    ev, pred_codes = _evaluation(prepared, spec)
    result = _result(ev, options)
    breakdowns = _breakdowns(
        _group_evaluations(prepared, pred_codes), prepared.window_counts, options
    )

    findings = _findings(result, prof)

    stages: list[Stage] = []
    stage_results: dict[str, EvaluationResult] = {}
    feature_cols = _features(table, spec, prepared, features)
    for stage_name, stage_data in (("train", train), ("validation", validation)):
        if stage_data is None:
            continue
        stage_table, stage_source = _load(stage_data, spec, None)
        # Operational and grouping columns are optional in training data.
        stage_spec = ColumnSpec(
            **{
                **spec.__dict__,
                "labels": tuple(prepared.labels),
                "pos_label": prepared.pos_label,
                "status": spec.status if spec.status in stage_table.column_names else None,
                "latency": None,
                "time": None,
                "version": None,
                "segment": None,
            }
        )
        stage_prepared = _prepare(stage_table, stage_spec, stage_source)
        stage_ev, _ = _evaluation(stage_prepared, stage_spec)
        stage_result = _result(stage_ev, options)
        stage_results[stage_name] = stage_result
        stages.append(Stage(stage_name, stage_source, stage_result))
        if stage_name == "train":
            # A feature whose name heads several columns of the training data is skipped.
            stage_features = [c for c in feature_cols if c not in stage_prepared.duplicated]
            findings += duplicate_rows(stage_table, table, stage_features)
            if spec.time is not None and spec.time in stage_table.column_names:
                findings += later_training_rows(
                    _utc(timestamps(stage_table, spec.time, stage_source)),
                    _utc(timestamps(table, spec.time, source)),
                )
            if prepared.pos_label is not None:
                pos = stage_prepared.labels.index(stage_prepared.pos_label)
                findings += _feature_leaks(
                    stage_table, stage_spec, stage_prepared, stage_features, pos, stage_source
                )
    if stage_results:
        findings += overfitting({**stage_results, "live": result})
    if prepared.pos_label is not None:
        pos = prepared.labels.index(prepared.pos_label)
        findings += _feature_leaks(table, spec, prepared, feature_cols, pos, source)

    drift_doc = None
    if reference is not None:
        drift_doc = _drift(reference, table, source, spec, prepared, feature_cols)

    # A one-off report looks once: fixed-sample intervals (the server's live
    # verdicts, re-evaluated as labels arrive, use the anytime mode).
    judged = (
        verdict(prof, result, findings, mode="fixed", latency=ev.latency)
        if prof is not None
        else None
    )
    return Report(
        source=source,
        rows_read=prepared.rows_read,
        rows_evaluated=prepared.rows_evaluated,
        excluded=prepared.excluded,
        columns=prepared.columns_used,
        notes=prepared.notes,
        result=result,
        breakdowns=breakdowns,
        time_unit=prepared.time_unit,
        findings=findings,
        verdict=judged,
        stages=stages,
        threshold=threshold,
        drift=drift_doc,
        maturity=float(maturity),
    )


def _drift(
    reference: Any,
    table: pa.Table,
    source: str,
    spec: ColumnSpec,
    prepared: Prepared,
    features: list[str],
) -> dict[str, Any]:
    """Drift of the file's features, label, score and predicted label from ``reference``
    (the columns the reference has; identifiers, time and grouping columns aside)."""
    from .monitor.drift import compare_tables

    ref_table, ref_source = _load(reference, spec, None)
    shared = [f for f in features if f in ref_table.column_names]
    roles = {
        "label": spec.label,
        "score": spec.score,
        "prediction": spec.pred,
    }
    named = {
        role: column
        for role, column in roles.items()
        if column is not None
        and column in ref_table.column_names
        and column in table.column_names
        and column not in prepared.duplicated
    }
    if not shared and not named:
        raise ValidationError(
            f"the reference {ref_source} shares no feature, label or score column with "
            f"{source}: it has {', '.join(ref_table.column_names[:10]) or 'no column'}"
        )
    report = compare_tables(
        ref_table,
        table,
        columns=[*shared, *named.values()],
        reference_name=ref_source,
        current_name=source,
        labelled_only=True,
        label=named.get("label"),
        score=named.get("score"),
        prediction=named.get("prediction"),
    )
    return report.to_dict()


def _findings(result: EvaluationResult, prof: Profile | None) -> list[Finding]:
    findings: list[Finding] = []
    recall_target = None
    if prof is not None:
        recall_target = next((c.target for c in prof.checks if c.metric == "recall"), None)
    findings += accuracy_paradox(result, recall_target)
    findings += single_class(result)
    watched = [c.metric for c in prof.checks] if prof else ["accuracy", "precision", "recall", "f1"]
    findings += too_few_labels(result, watched)
    return findings


def _evaluate_spark(
    data: Any, spec: ColumnSpec, options: Options, prof: Profile | None, threshold: float
) -> Report:
    """:func:`evaluate` with the statistics aggregated by Spark."""
    from .engines.spark import log_statistics

    stats = log_statistics(data, spec)
    result = _result(stats.evaluation, options)
    breakdowns = _breakdowns(stats.groups, stats.window_counts, options)
    findings = _findings(result, prof)
    judged = (
        verdict(prof, result, findings, mode="fixed", latency=stats.evaluation.latency)
        if prof is not None
        else None
    )
    notes = [*stats.notes, "single-feature leakage checks need rows: not run by the Spark engine"]
    return Report(
        source=stats.source,
        rows_read=stats.rows_read,
        rows_evaluated=stats.rows_evaluated,
        excluded=stats.excluded,
        columns=stats.columns_used,
        notes=notes,
        result=result,
        breakdowns=breakdowns,
        time_unit=stats.time_unit,
        findings=findings,
        verdict=judged,
        stages=[],
        threshold=threshold,
    )


def _utc(ts: pa.Array) -> pa.Array:
    """Timestamps without a zone, in UTC: zoned ones are converted, plain ones taken as UTC,
    so that a training file and a live log written with and without zones compare."""
    return ts.cast(pa.timestamp("us")) if ts.type.tz is not None else ts


def _feature_leaks(
    table: pa.Table,
    spec: ColumnSpec,
    prepared: Prepared,
    features: list[str],
    pos: int,
    source: str,
) -> list[Finding]:
    """Single-feature leakage on the labelled, successful rows of ``table``."""
    features = [f for f in features if f in table.column_names]
    if not features:
        return []
    keep = np.asarray(table.column(spec.label).is_valid().to_numpy(zero_copy_only=False), bool)
    if prepared.failed is not None:
        keep &= ~prepared.failed
    sub = table.select(features).filter(pa.array(keep))
    return single_feature_leaks(sub, prepared.true_codes == pos, features, source)
