"""The alert engine of a running server: rules evaluated against the store.

Every ``[alerts] interval_seconds`` (and on demand) each rule is evaluated for each of
its scopes — a model, and per version or segment when the rule says ``"*"`` — and the
verdict goes to the :class:`~liveeval.monitor.alerts.AlertTracker`, which keeps the
states, writes every change to the store's history and hands it to the subscribers
(notification channels, actions).

- **Sequential rules** (``drop``, ``rise``, or a threshold with ``mode =
  "sequential"``) read the scope's looks — closed windows of the rule's ``window`` by
  prediction time, from the store's rollups — since the first prediction, split them
  into the reference (the first ``N`` samples, or a time range) and the looks after it,
  and run the drop detector. The series is read whole at the first evaluation, then
  its last three days of prediction time at each one (where late labels land); a
  restart reads it whole again, so nothing is lost. On a proportion (and a store with
  :class:`~liveeval.store.interface.BucketCountSource`) every model's buckets come in
  one read per cycle as count arrays, and each series keeps its detector's checkpoint
  before the re-read part (:mod:`.alert_series`): a cycle feeds it only the new looks.
  Other metrics (latency quantiles, bounded metrics) read windowed statistics per
  series and run :func:`~liveeval.monitor.drop.detect_drop` over the whole series.
- **Window rules** compare one value of the last closed window with a threshold: a
  catalogue metric, ``label_coverage``, ``label_delay_seconds`` (p90), ``cpu_percent``
  (mean), ``rss_bytes`` (max), ``false_alarms_per_day`` and ``expected_cost`` (a binary
  model's labelled predictions; the cost by the model's costs), or a drift (``drift:FEATURE``, ``drift:score``: the
  effect, or the drift call with ``drifted``).
"""

from __future__ import annotations

import json
import logging
import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LiveevalError
from ..metrics import Evaluation
from ..metrics.confusion import ConfusionMatrix
from ..metrics.registry import metric_spec
from ..monitor.alerts import AlertScope, AlertTracker, Subscriber, notice_from_json
from ..monitor.business import error_counts, expected_cost, false_alarms_per_day
from ..monitor.drop import (
    DropEvidence,
    DropTest,
    Look,
    LookCounts,
    detect_drop,
    look_samples,
    metric_result,
)
from ..monitor.notice import AlertNotice
from ..monitor.rules import Rule, profile_rules
from ..monitor.windows import ceil_to, floor_to, summarise_label_delays
from ..store.interface import (
    ROLLUP_BUCKET,
    AlertRow,
    BucketCountSource,
    Scope,
    Store,
    StoreStats,
)
from ._clock import now as clock_now
from .alert_series import (
    ModelBuckets,
    SeriesLooks,
    SeriesState,
    light_reading,
    model_buckets,
    resume,
    series_digest,
    series_looks,
    split_reference,
)
from .business import model_costs

if TYPE_CHECKING:
    from .core import Service

__all__ = [
    "AlertEngine",
    "Subscriber",
    "Verdict",
    "alert_with_history",
    "latest_alerts",
    "read_history",
]

log = logging.getLogger("liveeval.alerts")

# A sequential rule reads at most this many looks (the most recent, after the reference).
MAX_LOOKS = 20_000
# Each evaluation reads again the looks of this much recent prediction time (late labels
# land there); older looks are kept from earlier reads until the server restarts.
REFRESH = timedelta(days=3)
_ALL = "*"
# Window rules on a window's business figures (service/business.py), not catalogue metrics.
_BUSINESS = ("false_alarms_per_day", "expected_cost")
# A series with no look since its boundary.
_NO_LOOKS = LookCounts([], [], np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))


@dataclass
class Verdict:
    """One rule's answer for one scope: whether its condition holds (None: cannot
    tell yet), a one-line summary and the evidence."""

    holds: bool | None
    summary: str
    evidence: dict[str, Any]


class AlertEngine:
    """The rules of one server, their evaluation and the alert states."""

    def __init__(self, service: Service, subscribers: list[Subscriber] | None = None) -> None:
        self.service = service
        settings = service.config.alerts
        self.rules: list[Rule] = list(settings.rules)
        if settings.profile_rules:
            self.rules += self._profile_rules()
        self.tracker = AlertTracker(self._record, subscribers or [])
        self.evaluated_at: datetime | None = None
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()
        # Per series: (the start of the part read again each time, the looks so far).
        self._looks: dict[Any, tuple[datetime, dict[tuple[Any, ...], StoreStats]]] = {}
        # The fast path's series: (rule, model) → the boundary read again from, and
        # (rule, model, group) → its frozen looks or detector checkpoint.
        self._read_from: dict[tuple[str, str], datetime] = {}
        self._states: dict[tuple[str, str, tuple[Any, ...]], SeriesState] = {}
        # (rule, model) pairs whose metric is no ratio of cells for the model's classes.
        self._slow: set[tuple[str, str]] = set()
        # (rule, model) → (what its last answers were computed from, the answers).
        self._memo: dict[tuple[str, str], tuple[Any, list[tuple[AlertScope, Verdict]]]] = {}
        # Whether to take the fast path when the store offers it (off: every rule reads
        # windowed statistics, as a store without bucket counts does).
        self.bucket_counts = True
        self._has_buckets = False

    def _profile_rules(self) -> list[Rule]:
        out: list[Rule] = []
        named = {r.name for r in self.service.config.alerts.rules}
        seen: set[str] = set()
        pairs = [(m.name, m.profile) for m in self.service.config.models]
        pairs += [(m.name, m.profile) for m in self.service.config.logged]
        for model, profile in pairs:
            if profile is None or model in seen:
                continue
            seen.add(model)
            metrics = self.service.profile(profile).alerts
            out += [r for r in profile_rules(model, profile, metrics) if r.name not in named]
        return out

    # -- history --------------------------------------------------------------------

    def _record(self, notice: AlertNotice) -> None:
        self.service.store.record_alert(
            AlertRow(
                notice.alert_id,
                notice.rule,
                notice.model,
                notice.version,
                notice.segment,
                notice.metric,
                notice.state,
                notice.severity,
                _naive(notice.changed_at),
                json.dumps(notice.to_json(), default=_jsonable),
            )
        )

    def restore(self) -> None:
        """Reopen the alerts that were open when the server stopped."""
        self.tracker.restore(self.history())

    def catch_up(self) -> None:
        """Forget the open alerts held in memory and restore them from the store's
        history: another server sharing the store may have evaluated meanwhile (this
        one takes over its lease, :mod:`liveeval.monitor.lease`)."""
        with self._lock:
            self.tracker.open.clear()
            self.restore()

    def history(self, alert_id: str | None = None, model: str | None = None) -> list[AlertNotice]:
        return read_history(self.service.store, alert_id, model)

    def subscribe(self, subscriber: Subscriber) -> None:
        self.tracker.subscribers.append(subscriber)

    # -- evaluation -----------------------------------------------------------------

    def evaluate(self, now: datetime | None = None) -> list[AlertNotice]:
        """Evaluate every rule once (``now`` naive means UTC); returns the state changes."""
        # The service's clock: simulated in `liveeval demo`, where the events are stamped.
        now = _aware(now or clock_now())
        changes: list[AlertNotice] = []
        with self._lock:
            for rule, scope, verdict in self._all_verdicts(now):
                changes += self.tracker.observe(
                    rule,
                    scope,
                    verdict.holds,
                    summary=verdict.summary,
                    evidence=verdict.evidence,
                    now=now,
                )
            self.evaluated_at = now
        return changes

    def verdicts(self, now: datetime | None = None) -> list[tuple[Rule, AlertScope, Verdict]]:
        """Every rule's verdict per scope at ``now``, without changing alert states (the
        series' kept state advances as in :meth:`evaluate`)."""
        with self._lock:
            return self._all_verdicts(_aware(now or clock_now()))

    def _all_verdicts(self, now: datetime) -> list[tuple[Rule, AlertScope, Verdict]]:
        out: list[tuple[Rule, AlertScope, Verdict]] = []
        cache: dict[Any, Any] = {}
        self._has_buckets = self.bucket_counts and isinstance(self.service.store, BucketCountSource)
        try:
            cache["buckets"] = self._bucket_reads(_naive(now), cache)
        except LiveevalError as exc:
            # Every rule then reads its statistics on its own (and reports its error).
            log.warning("alert bucket read: %s", exc)
            cache["buckets"] = {}
        for rule in self.rules:
            try:
                found = [(rule, scope, v) for scope, v in self._verdicts(rule, _naive(now), cache)]
                out += found
                failed = cache.pop(("errors", rule.name), None)
                if failed:
                    self.errors[rule.name] = "; ".join(failed)
                    log.warning("alert rule %r: %s", rule.name, self.errors[rule.name])
                else:
                    self.errors.pop(rule.name, None)
            except Exception as exc:
                # A rule that cannot be read (an unknown feature, a model without
                # scores) is reported, and never stops the others.
                self.errors[rule.name] = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, LiveevalError | ValueError):
                    log.warning("alert rule %r: %s", rule.name, exc)
                else:
                    log.exception("alert rule %r failed", rule.name)
        return out

    def _models(self, rule: Rule, cache: dict[Any, Any]) -> list[str]:
        if rule.model != _ALL:
            return [rule.model]
        if "models" not in cache:  # a DISTINCT over the predictions: once per evaluation
            known = set(self.service.models) | set(self.service.logged)
            cache["models"] = sorted(known | self.service.store.models())
        return list(cache["models"])

    def _verdicts(
        self, rule: Rule, now: datetime, cache: dict[Any, Any]
    ) -> Iterator[tuple[AlertScope, Verdict]]:
        if rule.metric in ("cpu_percent", "rss_bytes"):
            yield AlertScope("server"), self._resources(rule, now)
            return
        light = self._is_light(rule)
        for model in self._models(rule, cache):
            try:
                yield from list(self._model_verdicts(rule, model, now, cache, light))
            except (LiveevalError, ValueError, ArithmeticError) as exc:
                # One model that cannot be read (a reference with no room for a drop, a
                # cost that overflows) is named in the rule's error; the others go on.
                cache.setdefault(("errors", rule.name), []).append(f"model {model!r}: {exc}")

    def _model_verdicts(
        self, rule: Rule, model: str, now: datetime, cache: dict[Any, Any], light: bool
    ) -> Iterator[tuple[AlertScope, Verdict]]:
        slow = (rule.name, model) in self._slow
        buckets = cache["buckets"].get(model) if light and not slow else None
        if rule.mode == "sequential" and buckets is not None:
            yield from self._sequential_light(rule, model, now, buckets, cache)
        elif rule.mode == "sequential":
            yield from self._sequential(rule, model, now, cache)
        elif buckets is not None:
            yield from self._window_light(rule, model, now, buckets)
        elif rule.drift_column is not None:
            yield AlertScope(model), self._drift(rule, model, now)
        elif rule.metric == "label_delay_seconds":
            yield AlertScope(model), self._label_delay(rule, model, now)
        else:
            yield from self._window(rule, model, now)

    # -- the fast path: bucket counts of every model in one read ----------------------

    def _is_light(self, rule: Rule) -> bool:
        """Whether ``rule`` reads bucket counts: a sequential proportion, or a window
        rule on label coverage or a ratio of confusion cells."""
        if rule.metric in ("cpu_percent", "rss_bytes", "label_delay_seconds", *_BUSINESS):
            return False
        if rule.drift_column is not None or rule.window % ROLLUP_BUCKET:
            return False
        if not self._has_buckets:
            return False
        if rule.metric == "label_coverage":
            return rule.mode != "sequential"
        spec = metric_spec(rule.metric)
        if rule.mode == "sequential":
            return light_reading(spec)
        return light_reading(spec) and spec.family not in ("operational", "business")

    def _every(self, rule: Rule) -> timedelta:
        every = rule.window
        if every % ROLLUP_BUCKET:
            every = (every // ROLLUP_BUCKET + 1) * ROLLUP_BUCKET
        return every

    def _bucket_reads(self, now: datetime, cache: dict[Any, Any]) -> dict[str, ModelBuckets | None]:
        """Every model's buckets that the fast-path rules need, in one read per distinct
        start (one in a steady state): from the oldest part a series reads again."""
        store = self.service.store
        if not self.bucket_counts or not isinstance(store, BucketCountSource):
            return {}
        since: dict[str, datetime | None] = {}
        for rule in self.rules:
            if not self._is_light(rule):
                continue
            for model in self._models(rule, cache):
                if (rule.name, model) in self._slow:
                    continue
                if not self.service.model_meta(model, None)[0]:
                    continue  # no declared classes: looks cannot share a label set
                if rule.mode == "sequential":
                    start = self._read_from.get((rule.name, model))
                else:
                    start = (floor_to(now, ROLLUP_BUCKET) or now) - rule.window
                if model in since:
                    old = since[model]
                    start = None if old is None or start is None else min(old, start)
                since[model] = start
        until = ceil_to(now, ROLLUP_BUCKET) or now
        reads: dict[datetime | None, list[str]] = {}
        for model, start in since.items():
            reads.setdefault(start, []).append(model)
        out: dict[str, ModelBuckets | None] = {}
        for start, models in reads.items():
            counts = store.bucket_counts(sorted(models), start, until)
            for model in models:
                classes, pos_label, _ = self.service.model_meta(model, None)
                out[model] = model_buckets(counts, model, classes, pos_label)
        return out

    def _sequential_light(
        self, rule: Rule, model: str, now: datetime, buckets: ModelBuckets, cache: dict[Any, Any]
    ) -> Iterator[tuple[AlertScope, Verdict]]:
        every = self._every(rule)
        until = floor_to(now, every) or now
        boundary = floor_to(until - REFRESH, every) or until
        old = self._read_from.get((rule.name, model))
        spec = metric_spec(rule.metric)
        test = _drop_test(rule)
        by = self._by(rule)
        shared = ("looks", model, every, by, rule.version, rule.segment, until)
        if shared not in cache:  # rules on the same series share its looks
            cache[shared] = series_looks(buckets, rule, every, by, until)
        series: dict[tuple[Any, ...], SeriesLooks] = cache[shared]
        digest = ("digest", shared, boundary)
        if digest not in cache:
            cache[digest] = series_digest(series, boundary)
        # The looks after the boundary as the last cycle left them (in the series'
        # state), nothing frozen since: the detector takes nothing new, the verdicts
        # are the last cycle's.
        memo_key = (until, boundary, cache[digest])
        memo = self._memo.get((rule.name, model))
        if memo is not None and memo[0] == memo_key and boundary == old:
            yield from memo[1]
            return
        answers: list[tuple[AlertScope, Verdict]] = []
        fresh: dict[tuple[Any, ...], LookCounts] = {}
        for group, looks in series.items():
            counts = looks.look_counts(spec, buckets.labels, buckets.pos_label)
            if counts is None:  # not a fixed ratio of cells: the whole-statistics read
                self._slow.add((rule.name, model))
                yield from self._sequential(rule, model, now, {})
                return
            fresh[group] = counts if old is None else counts[bisect_left(counts.start, old) :]
        known = [key[2] for key in self._states if key[:2] == (rule.name, model)]
        groups = sorted(
            set(known) | set(fresh), key=lambda g: tuple((v is None, str(v)) for v in g)
        )
        for group in groups:
            key = (rule.name, model, group)
            evidence, self._states[key] = resume(
                test, rule, self._states.get(key), fresh.get(group, _NO_LOOKS), boundary
            )
            answers.append((self._scope(rule, model, group), self._drop_verdict(rule, evidence)))
        self._read_from[(rule.name, model)] = boundary
        self._memo[(rule.name, model)] = (memo_key, answers)
        yield from answers

    def _window_light(
        self, rule: Rule, model: str, now: datetime, buckets: ModelBuckets
    ) -> Iterator[tuple[AlertScope, Verdict]]:
        until = floor_to(now, ROLLUP_BUCKET) or now
        since = until - rule.window
        by = self._by(rule)
        groups = series_looks(buckets, rule, rule.window, by, until, since=since)
        if not by and () not in groups:
            groups[()] = SeriesLooks.empty(len(buckets.labels))
        memo_key = ("window", since, until, series_digest(groups))
        memo = self._memo.get((rule.name, model))
        if memo is not None and memo[0] == memo_key:  # the same counts: the same verdicts
            yield from memo[1]
            return
        answers = [
            (
                self._scope(rule, model, key),
                self._window_verdict(rule, _look_stats(buckets, looks), since, until),
            )
            for key, looks in groups.items()
        ]
        self._memo[(rule.name, model)] = (memo_key, answers)
        yield from answers

    def _by(self, rule: Rule) -> tuple[Any, ...]:
        return tuple(k for k in ("version", "segment") if getattr(rule, k) == _ALL)

    def _scope(self, rule: Rule, model: str, key: tuple[Any, ...]) -> AlertScope:
        values = dict(zip(self._by(rule), key, strict=False))
        version = values.get("version", rule.version)
        segment = values.get("segment", rule.segment)
        return AlertScope(model, version, segment)

    def _store_scope(
        self, rule: Rule, model: str, since: datetime | None, until: datetime
    ) -> Scope:
        return Scope(
            model,
            since,
            until,
            None if rule.version == _ALL else rule.version,
            None if rule.segment == _ALL else rule.segment,
        )

    def _sequential(
        self, rule: Rule, model: str, now: datetime, cache: dict[Any, Any]
    ) -> Iterator[tuple[AlertScope, Verdict]]:
        every = rule.window
        if every % ROLLUP_BUCKET:
            every = (every // ROLLUP_BUCKET + 1) * ROLLUP_BUCKET
        until = floor_to(now, every) or now
        by = self._by(rule)
        key = (model, by, rule.version, rule.segment, every, until)
        if key not in cache:
            cache[key] = self._series(rule, model, by, every, until)
        grouped: dict[tuple[Any, ...], StoreStats] = cache[key]
        series: dict[tuple[Any, ...], list[Look]] = {}
        for k in sorted(grouped, key=lambda k: k[-1]):
            start = k[-1]
            series.setdefault(k[:-1], []).append(Look(start, start + every, grouped[k]))
        test = _drop_test(rule)
        for group, looks in series.items():
            reference, after = self._split(rule, looks)
            evidence = detect_drop(test, reference, after[-MAX_LOOKS:])
            yield self._scope(rule, model, group), self._drop_verdict(rule, evidence)

    def _series(
        self, rule: Rule, model: str, by: tuple[Any, ...], every: timedelta, until: datetime
    ) -> dict[tuple[Any, ...], StoreStats]:
        """The looks of a series up to ``until``: read whole once, then only the last
        ``REFRESH`` of prediction time at each evaluation (where late labels land);
        older looks are kept from earlier reads."""
        classes, pos_label, _ = self.service.model_meta(model, None)
        key = (model, by, rule.version, rule.segment, every)
        kept = self._looks.get(key)
        since = None if kept is None else kept[0]
        fresh = self.service.store.grouped_statistics(
            self._store_scope(rule, model, since, until),
            by,
            every=every,
            classes=classes,
            pos_label=pos_label,
        )
        grouped = {} if kept is None else {k: v for k, v in kept[1].items() if k[-1] < kept[0]}
        grouped.update(fresh)
        self._looks[key] = (floor_to(until - REFRESH, every) or until, grouped)
        return grouped

    def _split(self, rule: Rule, looks: list[Look]) -> tuple[list[Look], list[Look]]:
        spec = metric_spec(rule.metric)
        reference, after, _ = split_reference(
            rule,
            [look.start for look in looks],
            [look.end for look in looks],
            lambda i: look_samples(spec, looks[i].stats),
        )
        return looks[reference], looks[after]

    def _drop_verdict(self, rule: Rule, evidence: DropEvidence) -> Verdict:
        body = evidence.to_dict()
        if not evidence.ready:
            return Verdict(None, evidence.reason or "not ready", body)
        before = evidence.before
        after = evidence.after
        way = "below" if rule.condition.direction == "drop" else "above"
        ref = (
            f"threshold {before['threshold']:g}"
            if "threshold" in before
            else f"reference {_fmt(before.get('value', before.get('share_above')))}"
        )
        now_value = after.get("value", after.get("share_above"))
        summary = (
            f"{rule.metric} {rule.condition.direction}: {_fmt(now_value)} since "
            f"{after.get('since', '—')} vs {ref} (statistic {evidence.statistic or 0:.3g} "
            f"{'≥' if evidence.alarmed else '<'} {evidence.threshold:.3g}, {way} "
            f"{_fmt(evidence.baseline)})"
        )
        return Verdict(evidence.alarmed, summary, body)

    def _window(
        self, rule: Rule, model: str, now: datetime
    ) -> Iterator[tuple[AlertScope, Verdict]]:
        until = floor_to(now, ROLLUP_BUCKET) or now
        since = until - rule.window
        by = self._by(rule)
        classes, pos_label, _ = self.service.model_meta(model, None)
        scope = self._store_scope(rule, model, since, until)
        if by:
            grouped = self.service.store.grouped_statistics(
                scope, by, classes=classes, pos_label=pos_label
            )
        else:
            grouped = {
                (): self.service.store.statistics(scope, classes=classes, pos_label=pos_label)
            }
        for key, stats in grouped.items():
            if rule.metric in _BUSINESS:
                verdict = self._business_verdict(rule, model, stats, since, until)
            else:
                verdict = self._window_verdict(rule, stats, since, until)
            yield self._scope(rule, model, key), verdict

    def _business_verdict(
        self, rule: Rule, model: str, stats: StoreStats, since: datetime, until: datetime
    ) -> Verdict:
        """False alarms per day or expected cost of the window's labelled predictions
        (a binary model's; the cost by the model's costs, see :mod:`.business`)."""
        window = {"start": since.isoformat(), "end": until.isoformat()}
        _, pos_label, _ = self.service.model_meta(model, None)
        evaluation = stats.evaluation
        result = None if evaluation is None else evaluation.result(only=("accuracy",))
        if pos_label is None and result is not None:
            pos_label = result.pos_label  # 1 of 0/1 labels, as the metrics read infers
        evidence: dict[str, Any]
        if pos_label is None or result is None or result.kind != "binary":
            evidence = {"window": window, "value": None, "samples": stats.labelled}
            return Verdict(None, f"{rule.metric}: needs a binary model's labels", evidence)
        counts = error_counts(result.confusion_matrix, result.labels, pos_label)
        if rule.metric == "false_alarms_per_day":
            metric = false_alarms_per_day(counts.fp, (until - since).total_seconds())
        else:
            costs = model_costs(self.service, model)
            if costs is None:
                evidence = {"window": window, "value": None, "samples": counts.n}
                why = "no costs: give the model's profile a [costs] table or the model costs"
                return Verdict(None, f"{rule.metric}: {why}", evidence)
            metric = expected_cost(counts, costs.false_positive, costs.false_negative)
        evidence = {
            "window": window,
            "value": metric.value,
            "lower": metric.lower,
            "upper": metric.upper,
            "method": metric.method,
            "false_alarms": counts.fp,
            "misses": counts.fn,
            "samples": counts.n,
        }
        return self._compare(rule, metric.value, counts.n, evidence)

    def _window_verdict(
        self, rule: Rule, stats: StoreStats, since: datetime, until: datetime
    ) -> Verdict:
        window = {"start": since.isoformat(), "end": until.isoformat()}
        if rule.metric == "label_coverage":
            samples = stats.predictions - stats.failed
            value = stats.label_coverage
            interval: dict[str, Any] = {}
        else:
            spec = metric_spec(rule.metric)
            samples = look_samples(spec, stats)
            result = metric_result(stats, rule.metric)
            value = result.value if result is not None and result.is_defined else None
            interval = (
                {"lower": result.lower, "upper": result.upper, "method": result.method}
                if result is not None
                else {}
            )
        evidence = {"window": window, "value": value, **interval, "samples": samples}
        return self._compare(rule, value, samples, evidence)

    def _compare(
        self, rule: Rule, value: float | None, samples: int, evidence: dict[str, Any]
    ) -> Verdict:
        evidence = {**evidence, "condition": rule.condition.text, "min_samples": rule.min_samples}
        if value is None or samples < rule.min_samples:
            why = f"{samples} samples, fewer than min_samples {rule.min_samples}"
            return Verdict(None, f"{rule.metric}: not enough data ({why})", evidence)
        holds = rule.condition.holds(value)
        summary = (
            f"{rule.metric} = {_fmt(value)} {'meets' if holds else 'clears'} "
            f"'{rule.condition.text}' ({samples} samples)"
        )
        return Verdict(holds, summary, evidence)

    def _resources(self, rule: Rule, now: datetime) -> Verdict:
        usage = self.service.store.resource_usage(now - rule.window, now)
        value: float | None = (
            usage.cpu_percent_mean if rule.metric == "cpu_percent" else usage.rss_bytes_max
        )
        evidence = {
            "window": {"start": (now - rule.window).isoformat(), "end": now.isoformat()},
            "value": value,
            "samples": usage.samples,
            "cpu_percent_max": usage.cpu_percent_max,
        }
        return self._compare(rule, value, usage.samples, evidence)

    def _label_delay(self, rule: Rule, model: str, now: datetime) -> Verdict:
        until = ceil_to(now, ROLLUP_BUCKET) or now
        since = floor_to(until - rule.window, ROLLUP_BUCKET)
        delays = self.service.store.label_delays(self._store_scope(rule, model, since, until))
        summary = summarise_label_delays(delays)
        evidence = {
            "window": {"start": since.isoformat() if since else None, "end": until.isoformat()},
            "value": summary.p90_seconds,
            "p50_seconds": summary.p50_seconds,
            "samples": summary.n,
        }
        return self._compare(rule, summary.p90_seconds, summary.n, evidence)

    def _drift(self, rule: Rule, model: str, now: datetime) -> Verdict:
        from .drift import drift_of

        column = rule.drift_column
        assert column is not None
        until = floor_to(now, rule.window) or now
        classes, pos_label, _ = self.service.model_meta(model, None)
        reference = rule.reference if not rule.reference.startswith("first:") else "previous:7d"
        answer = drift_of(
            self.service.store,
            model,
            reference=reference,
            window=_duration_text(rule.window),
            since=until - rule.window,
            until=until,
            features=None if column == "score" else (column,),
            classes=classes,
            pos_label=pos_label,
        )
        found = next(
            (c for c in answer["latest"]["columns"] if c["name"] == column),
            None,
        )
        evidence = {"reference": answer["reference"], "rule": answer["rule"], "column": found}
        effect = None if found is None else found["effect"]["value"]
        if found is None or effect is None:
            return Verdict(None, f"drift of {column}: no data in the last window", evidence)
        rows = int(found["rows"]["current"] or 0)
        if rule.condition.op == "drifted":
            if rows < rule.min_samples:
                return Verdict(None, f"drift of {column}: {rows} rows", evidence)
            holds = bool(found["drifted"])
            summary = (
                f"drift of {column}: {'drifted' if holds else 'not drifted'} "
                f"(effect {_fmt(effect)}, {found.get('status')})"
            )
            return Verdict(holds, summary, evidence)
        return self._compare(rule, float(effect), rows, evidence)

    # -- reads ----------------------------------------------------------------------

    def alerts(
        self, *, state: str | None = None, model: str | None = None, rule: str | None = None
    ) -> list[dict[str, Any]]:
        """The latest state of every alert (open or resolved), newest change first."""
        return latest_alerts(self.history(model=model), state=state, rule=rule)

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """One alert's latest state and its whole history (None when unknown)."""
        return alert_with_history(self.history(alert_id))

    def open_alerts(self) -> list[dict[str, Any]]:
        """The open (pending or firing) alerts, as JSON, from memory."""
        return [n.to_json() for n in list(self.tracker.open.values())]

    def rules_json(self) -> list[dict[str, Any]]:
        return [{**r.to_dict(), "error": self.errors.get(r.name)} for r in self.rules]


def _look_stats(buckets: ModelBuckets, looks: SeriesLooks) -> StoreStats:
    """One look's statistics from its counts: the confusion matrix (no scores, losses or
    latencies: the fast path serves ratios of cells and label coverage only)."""
    labels = buckets.labels
    counts = looks.cells[0]
    evaluation = Evaluation(
        labels, buckets.pos_label, ConfusionMatrix(labels, counts, counts.copy())
    )
    predictions, failed = int(looks.predictions[0]), int(looks.failed[0])
    evaluation.predictions, evaluation.failures = predictions, failed
    values = (
        int(looks.values_n[0]),
        float(looks.values_sum[0]),
        0.0,
        bool(looks.values_binary[0]),
    )
    return StoreStats(
        evaluation, predictions, failed, int(looks.labelled[0]), 0, labels, [], values
    )


def read_history(
    store: Store, alert_id: str | None = None, model: str | None = None
) -> list[AlertNotice]:
    """Alert state changes kept in ``store``, oldest first."""
    rows = store.alert_history(alert_id, model=model)
    return [notice_from_json(json.loads(r.body)) for r in rows]


def latest_alerts(
    history: list[AlertNotice], *, state: str | None = None, rule: str | None = None
) -> list[dict[str, Any]]:
    """The latest state of each alert in ``history``, newest change first, as JSON."""
    latest: dict[str, AlertNotice] = {}
    for notice in history:
        latest[notice.alert_id] = notice
    return [
        n.to_json()
        for n in sorted(latest.values(), key=lambda n: _aware(n.changed_at), reverse=True)
        if (state is None or n.state == state) and (rule is None or n.rule == rule)
    ]


def alert_with_history(history: list[AlertNotice]) -> dict[str, Any] | None:
    """One alert's latest state and every change (None when there is none)."""
    if not history:
        return None
    return {**history[-1].to_json(), "history": [n.to_json() for n in history]}


def _naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "—"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _duration_text(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    for unit, size in (("w", 10080), ("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _drop_test(rule: Rule) -> DropTest:
    """The sequential test a drop or rise rule asks for (both evaluation paths)."""
    return DropTest(
        rule.metric,
        rule.condition.direction,
        alpha=rule.alpha,
        min_change=rule.min_change,
        min_samples=rule.min_samples,
        baseline=rule.condition.threshold,
    )
