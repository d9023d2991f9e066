"""The application service: models, the store, ingestion, predictions and reads.

Routes, the ASGI fast path and the CLI call a :class:`Service`; it holds a
:class:`~liveeval.store.Store` and never sees which engine is behind it, and it knows
nothing of HTTP: outcomes are :class:`Answer` values and errors are
:class:`~liveeval.errors.LiveevalError` subclasses that the adapters translate.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import ServerConfig, parse_window
from ..errors import ConfigError, ConflictError, LiveevalError, NotFoundError, ProfileError
from ..metrics.labels import Label
from ..monitor.windows import WindowResults
from ..readiness import Profile, load_profile_file, profile_by_name
from ..serving import LoadedModel, load_model
from ..store import Kind, Store, WriteOutcome, open_store
from ._batch import ModelBatcher
from ._clock import now
from .alerting import AlertEngine, Subscriber
from .answer import Answer
from .classes import ClassMap, RecentPredictions
from .deployments import LoadRecord, record_failed_loads
from .monitoring import EstimateAnswers

if TYPE_CHECKING:
    from ..monitor.actions import ActionRunner, ActionSpec
    from ..monitor.channels import Channel
    from ..monitor.lease import Lease
    from ..monitor.notice import AlertNotice
    from ..monitor.outbox import Dispatcher

__all__ = ["Answer", "Observer", "Service"]

log = logging.getLogger("liveeval.service")

# The alert evaluator's lease (monitor/lease.py): when the evaluating server of several
# sharing a store stops, another evaluates within this many seconds.
LEASE_SECONDS = 10.0


class Observer(Protocol):
    """Counts what the service does (Prometheus, in the HTTP adapter).

    ``latency`` takes either time, or both: a served prediction's time in the model
    comes from the service, its total (arrival to answer sent) from the adapter,
    which alone sees the answer leave; an ingested event brings both.
    ``outcomes`` counts stored outcomes, ``duplicate_outcomes`` retries of stored ones.
    """

    def events(self, kind: str, result: str, count: int) -> None: ...

    def predictions(self, model: str, version: str, status: str, count: int) -> None: ...

    def latency(
        self, model: str, version: str, total: float | None, in_model: float | None
    ) -> None: ...

    def outcomes(self, matched: bool, count: int) -> None: ...

    def duplicate_outcomes(self, count: int) -> None: ...


class _Silent:
    def events(self, kind: str, result: str, count: int) -> None:
        pass

    def predictions(self, model: str, version: str, status: str, count: int) -> None:
        pass

    def latency(
        self, model: str, version: str, total: float | None, in_model: float | None
    ) -> None:
        pass

    def outcomes(self, matched: bool, count: int) -> None:
        pass

    def duplicate_outcomes(self, count: int) -> None:
        pass


class Service:
    """Everything one running server holds.

    Models are loaded and configured profiles read when the service is built; the
    store opens at :meth:`start`. Both raise :class:`~liveeval.errors.LiveevalError`
    subclasses with one-line messages, so a start-up problem never reaches uvicorn.
    """

    def __init__(self, config: ServerConfig, observer: Observer | None = None) -> None:
        config.check()
        self.config = config
        self.observer: Observer = observer or _Silent()
        self.models: dict[str, dict[str, LoadedModel]] = {}
        self.default_version: dict[str, str] = {}
        self.classes = ClassMap()
        self.recent = RecentPredictions()
        self.batcher = ModelBatcher()
        # The windows answer's results of its last reads, for windows not changed since.
        self.window_results = WindowResults()
        # The last estimates before labels, for reads whose inputs have not changed.
        self.estimates = EstimateAnswers()
        # The server's own loads are deployment events, written when the store opens
        # (or, when a load fails and the server cannot start, written at once).
        self._loads: list[LoadRecord] = []
        # Challenger versions by model: they predict the default version's requests too.
        self.shadows: dict[str, list[str]] = {}
        for spec in config.models:
            started = now()
            try:
                loaded = load_model(spec)
            except LiveevalError:
                self._loads.append(LoadRecord(spec.name, spec.version, started, now(), False))
                record_failed_loads(config, self._loads)
                raise
            self._loads.append(LoadRecord(spec.name, spec.version, started, now(), True))
            self.models.setdefault(spec.name, {})[spec.version] = loaded
            if spec.shadow:
                self.shadows.setdefault(spec.name, []).append(spec.version)
            else:
                self.default_version.setdefault(spec.name, spec.version)
            declared = spec.classes or loaded.classes
            known = self.classes.classes(spec.name)
            if known is not None and tuple(known) != tuple(declared):
                raise ConfigError(
                    f"model {spec.name!r}: versions declare different classes "
                    f"{list(known)!r} and {list(declared)!r}"
                )
            self.classes.declare(spec.name, declared)
        for name in self.models:
            if name not in self.default_version:
                raise ConfigError(
                    f"model {name!r}: every version is a shadow; one must answer requests "
                    "(remove 'shadow' from it)"
                )
        self.logged = {m.name: m for m in config.logged}
        for logged in config.logged:
            self.classes.declare(logged.name, logged.classes)
        self.profiles: dict[str, Profile] = {}
        for name, path in config.profiles.items():
            try:
                self.profiles[name] = load_profile_file(path)
            except LiveevalError as exc:
                raise ConfigError(f"[profiles] {name}: {exc}") from None
        defaults = [m.profile for m in config.models] + [m.profile for m in config.logged]
        for default in defaults:
            if default is not None:
                self.profile(default)  # an unknown default profile fails at start
        self._store: Store | None = None
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self._alerter: threading.Thread | None = None
        self._lease: Lease | None = None
        self._subscribers: list[Subscriber] = []
        self.alerts: AlertEngine | None = None
        self.run_alerts = True  # the background evaluation (tests and tools turn it off)
        # The process's CPU and RSS samples (a standalone monitor is not the server).
        self.sample_resources = True
        # Consumers of alert notices, started with the store (monitor.outbox, .actions):
        # channels and actions from [alerts.channels] / [alerts.actions], checked here.
        from ..monitor.actions import parse_actions
        from ..monitor.channels import parse_channels

        base = config.config_dir
        self.channels: dict[str, Channel] = {
            **parse_channels(config.alerts.channels, base),
            **config.channels,
        }
        self.action_specs: dict[str, ActionSpec] = {
            **parse_actions(config.alerts.actions, base),
            **config.actions,
        }
        self.notifications: Dispatcher | None = None
        self.actions: ActionRunner | None = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise LiveevalError("the service is not started")
        return self._store

    @property
    def started(self) -> bool:
        return self._store is not None

    def start(self) -> None:
        """Open the store and start the resource sampler (once; later calls do nothing)."""
        if self._store is not None:
            return
        self._store = open_store(self.config.store)
        self._record_loads(self._store)
        self._start_alert_consumers(self._store)
        self._stop.clear()
        if self.sample_resources:
            self._sampler = threading.Thread(
                target=self._sample_resources, name="liveeval-resources", daemon=True
            )
            self._sampler.start()
        # The outbox and the action runner hear every alert state change first.
        self.alerts = AlertEngine(self, [self.notify, *self._subscribers])
        self.alerts.restore()
        if self.notifications is not None:  # firing alerts are re-sent where a channel asks
            self.notifications.remember(
                n for n in self.alerts.tracker.open.values() if n.state == "firing"
            )
        if self.run_alerts and self.config.alerts.evaluate and self.alerts.rules:
            # Servers sharing a store (PostgreSQL replicas) take turns: one evaluates.
            from ..monitor.lease import Lease

            self._lease = Lease(
                self._store, "alerts", seconds=LEASE_SECONDS, on_gain=self.alerts.catch_up
            )
            self._lease.start()
            self._alerter = threading.Thread(
                target=self._evaluate_alerts, name="liveeval-alerts", daemon=True
            )
            self._alerter.start()
        # Models, libraries and the id index are long-lived: move them out of the
        # garbage collector's generations so that its full passes, triggered by the
        # many small objects each request allocates, stop re-scanning them.
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        if self._alerter is not None:
            self._alerter.join(timeout=30)
            self._alerter = None
        if self._lease is not None:
            self._lease.stop()  # another server evaluates from now on
            self._lease = None
        self.alerts = None
        # After the engine: no notice comes once these stop.
        if self.notifications is not None:
            self.notifications.stop()
            self.notifications = None
        if self.actions is not None:
            self.actions.stop()
            self.actions = None
        if self._store is not None:
            self._store.close()  # flushes everything acknowledged
        self._store = None

    def _record_loads(self, store: Store) -> None:
        # A default version goes live when the server starts answering, after every
        # load: its success is stamped now, so it is the model's live version (a
        # shadow or other version succeeded when its load ended).
        started = now()
        loads = [
            replace(r, ended=started) if self.default_version.get(r.model) == r.version else r
            for r in self._loads
        ]
        events = [e for load in loads for e in load.events()]
        if events:
            store.commit("deployments", events)
        self._loads = []

    def _start_alert_consumers(self, store: Store) -> None:
        from ..monitor.actions import ActionRunner
        from ..monitor.outbox import Dispatcher

        self.notifications = Dispatcher(store, self.channels)
        self.notifications.start()
        workdir = self.config.actions_workdir
        if workdir is None and self.config.alerts.workdir is not None:
            workdir = Path(self.config.alerts.workdir)
            if not workdir.is_absolute() and self.config.config_dir is not None:
                workdir = self.config.config_dir / workdir
        if workdir is None:
            base = Path(self.config.store)
            workdir = (
                Path("liveeval-actions")
                if self.config.store == ":memory:"
                else base.with_name(base.name + ".actions")
            )
        self.actions = ActionRunner(store, self.action_specs, workdir)
        self.actions.start()

    def notify(self, notice: AlertNotice) -> None:
        """The alert engine's subscriber: store the notice for its channels and start
        the actions it names; never waits on a channel or a run. From a plain thread it
        returns once the notice is stored (one small transaction, ~10-40 ms); called on
        the event loop it hands that to a worker thread, so the loop never waits."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.run_in_executor(None, self._notify_now, notice)
            return
        self._notify_now(notice)

    def _notify_now(self, notice: AlertNotice) -> None:
        if self.notifications is not None:
            self.notifications(notice)
        if self.actions is not None:
            self.actions(notice)

    def _sample_resources(self) -> None:
        import psutil

        process = psutil.Process()
        process.cpu_percent(None)
        while not self._stop.wait(self.config.resource_interval_seconds):
            sample = {
                "ts": now(),
                "process": f"liveeval-{process.pid}",
                "cpu_percent": process.cpu_percent(None),
                "rss_bytes": process.memory_info().rss,
            }
            store = self._store
            if store is not None and not self._stop.is_set():
                store.commit("resource_samples", [sample])

    def subscribe(self, subscriber: Subscriber) -> None:
        """Hand every alert state change (an ``AlertNotice``) to ``subscriber``, which
        must not block (queue and return). Before or after :meth:`start`."""
        self._subscribers.append(subscriber)
        if self.alerts is not None:
            self.alerts.subscribe(subscriber)

    def alert_engine(self) -> AlertEngine:
        if self.alerts is None:
            raise LiveevalError("the service is not started")
        return self.alerts

    def evaluate_alerts_now(self) -> list[AlertNotice]:
        """Evaluate every rule now (``POST /v1/alerts/evaluate``), on the one server
        that holds the alert lease: elsewhere a second evaluator would record and
        announce the same state changes twice."""
        engine = self.alert_engine()
        lease = self._lease
        if lease is not None and not lease.held:
            raise ConflictError(
                "another server sharing this store evaluates the alert rules (it holds "
                "the 'alerts' lease); ask that server, or wait for its next cycle"
            )
        return engine.evaluate()

    def _evaluate_alerts(self) -> None:
        interval = self.config.alerts.interval_seconds
        while not self._stop.wait(interval):
            engine = self.alerts
            if engine is None:
                return
            lease = self._lease
            if lease is not None and not lease.held:
                continue  # another server sharing the store evaluates
            try:
                engine.evaluate()
            except Exception:  # the loop must outlive a bad cycle; the next one retries
                log.exception("alert evaluation failed")

    # -- shared helpers ----------------------------------------------------------

    async def write(
        self, kind: Kind, events: list[dict[str, Any]], *, fresh: bool = False
    ) -> list[WriteOutcome]:
        outcomes = await self.store.write(kind, events, fresh=fresh)
        if len(outcomes) == 1:
            self.observer.events(kind, outcomes[0].status, 1)
            return outcomes
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        for status, count in counts.items():
            self.observer.events(kind, status, count)
        return outcomes

    def served(self, model: str, version: str | None) -> LoadedModel:
        """The loaded model for ``model`` (and ``version``, default: the first configured).

        Raises
        ------
        NotFoundError
            naming what is served.
        """
        versions = self.models.get(model)
        if not versions:
            raise NotFoundError(
                f"model {model!r} is not served here; served: {sorted(self.models)}"
            )
        chosen = version or self.default_version[model]
        loaded = versions.get(chosen)
        if loaded is None:
            raise NotFoundError(
                f"model {model!r} has no version {chosen!r}; versions: {sorted(versions)}"
            )
        return loaded

    def require_model(self, model: str) -> None:
        """Raise :class:`NotFoundError` for a model neither served, declared nor seen."""
        known = model in self.models or model in self.logged
        if not known and not self.store.has_model(model):
            raise NotFoundError(f"unknown model {model[:200]!r}")

    def model_meta(
        self, model: str, version: str | None
    ) -> tuple[tuple[Label, ...] | None, Any, str | None]:
        """Declared classes, positive label and default profile of ``model``."""
        classes = self.classes.classes(model)
        versions = self.models.get(model)
        if not versions:
            logged = self.logged.get(model)
            if logged is not None:
                return classes, logged.pos_label, logged.profile
            return classes, None, None
        loaded = versions.get(version or self.default_version[model]) or next(
            iter(versions.values())
        )
        return classes, loaded.pos_label, loaded.spec.profile

    def profile(self, name: str) -> Profile:
        """A built-in profile or one configured at start, by name — never a path.

        Raises
        ------
        NotFoundError
            for any other name, with the closest names.
        """
        try:
            return profile_by_name(name, self.profiles)
        except ProfileError as exc:
            raise NotFoundError(f"{exc} (add your own under [profiles] in liveeval.toml)") from None

    def since_window(self, window: str | None) -> datetime | None:
        if window is None:
            return None
        try:
            return now() - parse_window(window)
        except OverflowError:
            raise ConfigError(f"window {window!r} reaches before year 1") from None
