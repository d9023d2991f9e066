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
  and run :func:`~liveeval.monitor.drop.detect_drop`. The series is read whole at the
  first evaluation, then its last three days of prediction time at each one (where late
  labels land); a restart reads it whole again, so nothing is lost.
- **Window rules** compare one value of the last closed window with a threshold: a
  catalogue metric, ``label_coverage``, ``label_delay_seconds`` (p90), ``cpu_percent``
  (mean), ``rss_bytes`` (max), or a drift (``drift:FEATURE``, ``drift:score``: the
  effect, or the drift call with ``drifted``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import LiveevalError
from ..metrics.registry import metric_spec
from ..monitor.alerts import AlertScope, AlertTracker, Subscriber, notice_from_json
from ..monitor.drop import DropEvidence, DropTest, Look, detect_drop, look_samples, metric_result
from ..monitor.notice import AlertNotice
from ..monitor.rules import Rule, profile_rules
from ..monitor.windows import ceil_to, floor_to, summarise_label_delays
from ..store.interface import ROLLUP_BUCKET, AlertRow, Scope, Store, StoreStats
from ._clock import now as clock_now

if TYPE_CHECKING:
    from .core import Service

__all__ = ["AlertEngine", "Subscriber", "alert_with_history", "latest_alerts", "read_history"]

log = logging.getLogger("liveeval.alerts")

# A sequential rule reads at most this many looks (the most recent, after the reference).
MAX_LOOKS = 20_000
# Each evaluation reads again the looks of this much recent prediction time (late labels
# land there); older looks are kept from earlier reads until the server restarts.
REFRESH = timedelta(days=3)
_ALL = "*"


@dataclass
class _Verdict:
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
            cache: dict[Any, Any] = {}
            for rule in self.rules:
                try:
                    for scope, verdict in self._verdicts(rule, _naive(now), cache):
                        changes += self.tracker.observe(
                            rule,
                            scope,
                            verdict.holds,
                            summary=verdict.summary,
                            evidence=verdict.evidence,
                            now=now,
                        )
                    self.errors.pop(rule.name, None)
                except LiveevalError as exc:
                    # A rule that cannot be read (an unknown feature, a model without
                    # scores) is reported, and never stops the other rules.
                    self.errors[rule.name] = str(exc)
                    log.warning("alert rule %r: %s", rule.name, exc)
            self.evaluated_at = now
        return changes

    def _models(self, rule: Rule, cache: dict[Any, Any]) -> list[str]:
        if rule.model != _ALL:
            return [rule.model]
        if "models" not in cache:  # a DISTINCT over the predictions: once per evaluation
            known = set(self.service.models) | set(self.service.logged)
            cache["models"] = sorted(known | self.service.store.models())
        return list(cache["models"])

    def _verdicts(
        self, rule: Rule, now: datetime, cache: dict[Any, Any]
    ) -> Iterator[tuple[AlertScope, _Verdict]]:
        if rule.metric in ("cpu_percent", "rss_bytes"):
            yield AlertScope("server"), self._resources(rule, now)
            return
        for model in self._models(rule, cache):
            if rule.mode == "sequential":
                yield from self._sequential(rule, model, now, cache)
            elif rule.drift_column is not None:
                yield AlertScope(model), self._drift(rule, model, now)
            elif rule.metric == "label_delay_seconds":
                yield AlertScope(model), self._label_delay(rule, model, now)
            else:
                yield from self._window(rule, model, now)

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
    ) -> Iterator[tuple[AlertScope, _Verdict]]:
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
        test = DropTest(
            rule.metric,
            rule.condition.direction,
            alpha=rule.alpha,
            min_change=rule.min_change,
            min_samples=rule.min_samples,
            baseline=rule.condition.threshold,
        )
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
        if rule.condition.threshold is not None:
            return [], looks
        first = rule.reference_first
        if first is not None:
            spec = metric_spec(rule.metric)
            total = 0
            for i, look in enumerate(looks):
                total += look_samples(spec, look.stats)
                if total >= first:
                    return looks[: i + 1], looks[i + 1 :]
            return looks, []
        found = rule.reference_range()
        assert found is not None
        start, end = found
        return (
            [look for look in looks if look.start >= start and look.end <= end],
            [look for look in looks if look.start >= end],
        )

    def _drop_verdict(self, rule: Rule, evidence: DropEvidence) -> _Verdict:
        body = evidence.to_dict()
        if not evidence.ready:
            return _Verdict(None, evidence.reason or "not ready", body)
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
        return _Verdict(evidence.alarmed, summary, body)

    def _window(
        self, rule: Rule, model: str, now: datetime
    ) -> Iterator[tuple[AlertScope, _Verdict]]:
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
            yield self._scope(rule, model, key), self._window_verdict(rule, stats, since, until)

    def _window_verdict(
        self, rule: Rule, stats: StoreStats, since: datetime, until: datetime
    ) -> _Verdict:
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
    ) -> _Verdict:
        evidence = {**evidence, "condition": rule.condition.text, "min_samples": rule.min_samples}
        if value is None or samples < rule.min_samples:
            why = f"{samples} samples, fewer than min_samples {rule.min_samples}"
            return _Verdict(None, f"{rule.metric}: not enough data ({why})", evidence)
        holds = rule.condition.holds(value)
        summary = (
            f"{rule.metric} = {_fmt(value)} {'meets' if holds else 'clears'} "
            f"'{rule.condition.text}' ({samples} samples)"
        )
        return _Verdict(holds, summary, evidence)

    def _resources(self, rule: Rule, now: datetime) -> _Verdict:
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

    def _label_delay(self, rule: Rule, model: str, now: datetime) -> _Verdict:
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

    def _drift(self, rule: Rule, model: str, now: datetime) -> _Verdict:
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
            return _Verdict(None, f"drift of {column}: no data in the last window", evidence)
        rows = int(found["rows"]["current"] or 0)
        if rule.condition.op == "drifted":
            if rows < rule.min_samples:
                return _Verdict(None, f"drift of {column}: {rows} rows", evidence)
            holds = bool(found["drifted"])
            summary = (
                f"drift of {column}: {'drifted' if holds else 'not drifted'} "
                f"(effect {_fmt(effect)}, {found.get('status')})"
            )
            return _Verdict(holds, summary, evidence)
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
