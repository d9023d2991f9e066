"""Events for the store contract: a scenario, the engines that store it, and the
reference statistics computed from what the store keeps (scikit-learn, numpy)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pytest
from sklearn import metrics as skm

from liveeval.metrics.labels import canonical_label
from liveeval.store import Scope, StatisticsSource, StoreStats, encode_label, open_store
from liveeval.store.events import events_table, id_field
from liveeval.store.table import TableSource

TS = dt.datetime(2026, 11, 1, 0, 0, 0)
LONG_SEGMENT = "région-" + "é" * 300
SEGMENTS = ["a", "b", None, LONG_SEGMENT]
ENGINES = ["duckdb-file", "duckdb-memory", "table-arrow", "table-parquet", "postgresql"]
# Engines that are stores (written through the EventSink), not tables read as they are.
STORES = ["duckdb-file", "duckdb-memory", "postgresql"]
SPELLINGS = {1: ["1", 1, 1.0, True, "1.0"], 0: ["0", 0, 0.0, False, "false"]}


@dataclass
class Scenario:
    arrivals: list[tuple[str, dict[str, Any]]]
    classes: tuple[Any, ...] | None
    pos_label: Any
    multiclass: bool
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # scikit-learn's figures by scope, computed once for every engine that stores it.
    references: dict[Scope, Reference] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # What the store keeps: the first event of each id, in arrival order.
        for kind, event in self.arrivals:
            kept = self.predictions if kind == "predictions" else self.outcomes
            kept.setdefault(event[id_field(kind) or ""], event)


def _features(rng: np.random.Generator, i: int) -> str:
    features: dict[str, Any] = {
        "amount": round(float(rng.lognormal(3, 1)), 3),
        "country": str(rng.choice(["fr", "de", "ü"])),
        "new_customer": bool(rng.random() < 0.3),
    }
    if i % 7 == 0:
        features["note"] = None
    if i % 11 == 0:
        features["tags"] = ["x", {"y": 1}]
    return json.dumps(features, sort_keys=True)


@functools.cache
def make_scenario(
    seed: int, n: int = 180, *, multiclass: bool = False, k: int = 3, model: str = "m"
) -> Scenario:
    """The events of one seed; the same object for the same arguments (every engine of
    a test stores it, and its scikit-learn references are computed once). Read-only."""
    rng = np.random.default_rng(seed)
    predictions, outcomes = [], []
    for i in range(n):
        failed = rng.random() < 0.06
        event: dict[str, Any] = {
            "id": f"{model}{i}",
            "model": model,
            "version": str(rng.choice(["v1", "v2"])),
            "ts": TS + dt.timedelta(minutes=int(rng.integers(0, 3 * 24 * 60))),
            "segment": SEGMENTS[int(rng.integers(0, len(SEGMENTS)))],
            "features": _features(rng, i),
            "latency_total_s": float(rng.gamma(2.0, 0.01)) if i % 9 else 0.0,
            "status": "error" if failed else "ok",
        }
        if failed:
            event["error_type"] = "ValueError"
            truth = int(rng.integers(0, k if multiclass else 2))
        elif multiclass:
            truth = int(rng.integers(0, k))
            logits = rng.normal(size=k) + 1.2 * np.eye(k)[truth]
            probas = np.exp(logits) / np.exp(logits).sum()
            event["probas"] = probas.tolist()
            event["label"] = encode_label(int(np.argmax(probas)))
        else:
            truth = int(rng.random() < 0.3)
            # Rounded, so that scores tie; 0 and 1 themselves occur.
            score = float(np.clip(round(rng.normal(0.3 + 0.4 * truth, 0.25), 2), 0.0, 1.0))
            event["score"] = score
            event["label"] = encode_label(1.0 if score >= 0.5 else 0.0)
        predictions.append(event)
        if rng.random() < 0.85:
            spelling = (
                truth
                if multiclass and truth > 1
                else SPELLINGS[truth][int(rng.integers(0, len(SPELLINGS[truth])))]
            )
            if multiclass and truth == 2:
                spelling = [2, 2.0, "2"][i % 3]
            outcome = {
                "prediction_id": f"{model}{i}",
                "label": encode_label(spelling),
                "ts": TS + dt.timedelta(days=4),
            }
            if i % 4 == 0:
                outcome["value"] = float(rng.integers(0, 2))
            outcomes.append(outcome)
    for j in range(5):  # outcomes whose prediction never comes
        outcomes.append(
            {
                "prediction_id": f"{model}-ghost{j}",
                "label": encode_label(1),
                "ts": TS + dt.timedelta(days=4),
            }
        )
    arrivals: list[tuple[str, dict[str, Any]]] = [("predictions", e) for e in predictions]
    arrivals += [("outcomes", e) for e in outcomes]
    for at in rng.choice(len(predictions), size=n // 10, replace=False):
        # A retry, stamped anew by the server: a duplicate.
        arrivals.append(
            ("predictions", {**predictions[at], "ts": predictions[at]["ts"] + dt.timedelta(1)})
        )
    for at in rng.choice(len(predictions), size=n // 20, replace=False):
        # Different content under a known id: a conflict, whichever arrives first counts.
        changed = dict(predictions[at])
        changed["latency_total_s"] = 9.0
        arrivals.append(("predictions", changed))
    for at in rng.choice(len(outcomes) - 5, size=n // 20, replace=False):
        arrivals.append(("outcomes", dict(outcomes[at])))
    order = rng.permutation(len(arrivals))
    arrivals = [arrivals[i] for i in order]
    classes: tuple[Any, ...] | None = tuple(range(k)) if multiclass else (0.0, 1.0)
    return Scenario(arrivals, classes, None if multiclass else 1.0, multiclass)


Batching = Literal["small", "large"]


def _batches(
    arrivals: list[tuple[str, dict[str, Any]]], seed: int, batching: Batching = "small"
) -> Iterator[tuple[str, list]]:
    """``small``: runs of one kind, cut into batches of 1 to 12 events (about two
    events a batch, as runs of one kind are short). ``large``: the next 20 to 60
    arrivals, one batch of their predictions and one of their outcomes (in arrival
    order within each; which kind first at random): an order the server also sees,
    in a tenth of the commits."""
    rng = np.random.default_rng(seed)
    at = 0
    while at < len(arrivals):
        if batching == "large":
            window = arrivals[at : at + int(rng.integers(20, 61))]
            at += len(window)
            kinds = ["predictions", "outcomes"]
            for kind in kinds[:: 1 if rng.random() < 0.5 else -1]:
                batch = [e for k, e in window if k == kind]
                if batch:
                    yield kind, batch
            continue
        kind = arrivals[at][0]
        size = int(rng.integers(1, 13))
        batch = []
        while at < len(arrivals) and arrivals[at][0] == kind and len(batch) < size:
            batch.append(arrivals[at][1])
            at += 1
        yield kind, batch


def _write_duck(location: str, scenario: Scenario, batching: Batching = "small") -> Any:
    """The scenario written to the store at ``location`` (any engine), half through
    group commits on an event loop and half in line from a plain thread."""
    engine = open_store(location)

    async def write(kind: str, batch: list[dict[str, Any]]) -> None:
        await engine.write(kind, batch)

    for i, (kind, batch) in enumerate(_batches(scenario.arrivals, 1, batching)):
        if i % 2:
            asyncio.run(write(kind, batch))  # group commit through the journal
        else:
            engine.commit(kind, batch)  # in line, from a plain thread
    return engine


def postgres_location(request: pytest.FixtureRequest) -> str:
    """A new database on the session's PostgreSQL server (skips where there is none)."""
    server = request.getfixturevalue("postgres")
    return str(server.create_database(f"t{uuid.uuid4().hex[:16]}"))


def open_engine(
    name: str,
    folder: Any,
    scenario: Scenario,
    request: pytest.FixtureRequest | None = None,
    *,
    batching: Batching = "small",
) -> StatisticsSource:
    """``scenario`` stored by engine ``name``; the stores are written in ``batching``
    batches (``_batches``)."""
    if name == "postgresql":
        if request is None:
            raise ValueError("the postgresql engine needs the test's request (for the server)")
        return _write_duck(postgres_location(request), scenario, batching)
    if name == "duckdb-file":
        return _write_duck(str(folder / "store.duckdb"), scenario, batching)
    if name == "duckdb-memory":
        return _write_duck(":memory:", scenario, batching)
    if name == "table-arrow":
        tables = {
            kind: events_table(kind, [e for k, e in scenario.arrivals if k == kind])
            for kind in ("predictions", "outcomes")
        }
        return TableSource(tables)
    engine = _write_duck(str(folder / "export.duckdb"), scenario, batching)
    engine.export(folder / "parquet")
    engine.close()
    return TableSource.from_parquet(folder / "parquet")


def close_source(source: StatisticsSource) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


# -- the reference: the kept events, filtered in Python, measured by scikit-learn --------


def in_scope(scope: Scope, p: dict[str, Any]) -> bool:
    return (
        p["model"] == scope.model
        and (scope.version is None or p["version"] == scope.version)
        and (scope.segment is None or p.get("segment") == scope.segment)
        and (not scope.segment_is_null or p.get("segment") is None)
        and (scope.since is None or p["ts"] >= scope.since)
        and (scope.until is None or p["ts"] < scope.until)
    )


def label_of(text: str | None) -> Any:
    return None if text is None else canonical_label(json.loads(text))


def reference_pairs(scenario: Scenario, scope: Scope) -> list[tuple[dict, dict]]:
    pairs = []
    for pid, p in scenario.predictions.items():
        o = scenario.outcomes.get(pid)
        if in_scope(scope, p) and o is not None and p["status"] == "ok":
            pairs.append((p, o))
    return pairs


@dataclass(frozen=True)
class Reference:
    """What the store must report for one scope: counts of the kept events, and
    scikit-learn's figures on their labelled pairs as (name, value, rel, when) —
    ``when`` "always", or "if-defined" (compared where the store's value is not None)."""

    predictions: int
    failed: int
    labelled: int
    ghosts: int
    values: tuple[int, float]
    classes: list[Any] | None = None
    confusion: np.ndarray | None = None
    accuracy: float | None = None
    figures: tuple[tuple[str, float, float, str], ...] = ()


def reference(scenario: Scenario, scope: Scope) -> Reference:
    """scikit-learn on the events the store keeps in ``scope`` (cached on the scenario)."""
    if scope in scenario.references:
        return scenario.references[scope]
    kept = [p for p in scenario.predictions.values() if in_scope(scope, p)]
    pairs = reference_pairs(scenario, scope)
    ghosts = [o for pid, o in scenario.outcomes.items() if pid not in scenario.predictions]
    values = [o["value"] for _, o in pairs if o.get("value") is not None]
    counts: dict[str, Any] = {
        "predictions": len(kept),
        "failed": sum(p["status"] != "ok" for p in kept),
        "labelled": len(pairs),
        "ghosts": len(ghosts),
        "values": (len(values), sum(values)),
    }
    if not pairs:
        ref = scenario.references[scope] = Reference(**counts)
        return ref
    y_true = [label_of(o["label"]) for _, o in pairs]
    y_pred = [label_of(p["label"]) for p, _ in pairs]
    classes = list(scenario.classes or sorted(set(y_true) | set(y_pred)))
    figures: list[tuple[str, float, float, str]] = []
    if scenario.multiclass:
        proba = np.array([p["probas"] for p, _ in pairs])
        codes = np.array([classes.index(y) for y in y_true])
        if len(set(y_true)) == len(classes):
            auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
            figures.append(("roc_auc", auc, 1e-12, "always"))
            figures.append(
                ("log_loss", skm.log_loss(y_true, proba, labels=classes), 1e-9, "always")
            )
        brier = np.mean(np.sum((proba - np.eye(len(classes))[codes]) ** 2, axis=1))
        figures.append(("brier", brier, 1e-9, "always"))
        for name in ("precision_macro", "recall_macro", "f1_macro"):
            kind = name.removesuffix("_macro")
            fn: Callable[..., float] = getattr(skm, f"{kind}_score")
            expected = fn(y_true, y_pred, labels=classes, average="macro", zero_division=np.nan)
            if not math.isnan(expected):
                figures.append((name, expected, 1e-12, "if-defined"))
    else:
        pos = scenario.pos_label
        y = np.array([t == pos for t in y_true])
        score = np.array([p["score"] for p, _ in pairs])
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            expected = fn(y_true, y_pred, pos_label=pos, zero_division=0)
            figures.append((name, expected, 1e-12, "if-defined"))
        if 0 < y.sum() < y.size:
            figures.append(("roc_auc", skm.roc_auc_score(y, score), 1e-12, "always"))
        figures.append(("log_loss", skm.log_loss(y, score, labels=[0, 1]), 1e-9, "always"))
        figures.append(("brier", skm.brier_score_loss(y, score), 1e-9, "always"))
    ref = scenario.references[scope] = Reference(
        **counts,
        classes=classes,
        confusion=skm.confusion_matrix(y_true, y_pred, labels=classes),
        accuracy=skm.accuracy_score(y_true, y_pred),
        figures=tuple(figures),
    )
    return ref


def check_against_sklearn(
    stats: StoreStats, scenario: Scenario, scope: Scope, *, unmatched: int | None = None
) -> None:
    """``stats`` equal scikit-learn's on the events the store keeps; ``unmatched`` is
    the store-wide count of outcomes without a prediction, when other events share
    the store."""
    ref = reference(scenario, scope)
    assert stats.predictions == ref.predictions
    assert stats.failed == ref.failed
    assert stats.labelled == ref.labelled
    assert stats.unmatched_outcomes == (ref.ghosts if unmatched is None else unmatched)
    assert stats.values[0] == ref.values[0]
    assert stats.values[1] == pytest.approx(ref.values[1])
    if ref.classes is None:
        assert stats.evaluation is None or stats.evaluation.confusion.total == 0
        return
    assert stats.evaluation is not None
    assert list(stats.labels) == ref.classes  # "1", 1, 1.0 and true are one class
    assert stats.notes == []
    result = stats.evaluation.result()
    m = {name: r.value for name, r in result.metrics.items()}
    np.testing.assert_array_equal(np.array(result.confusion_matrix), ref.confusion)
    assert m["accuracy"] == pytest.approx(ref.accuracy, rel=1e-12)
    for name, expected, rel, when in ref.figures:
        if when == "always" or m[name] is not None:
            assert m[name] == pytest.approx(expected, rel=rel), name


def reference_features(scenario: Scenario, scope: Scope) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for p in scenario.predictions.values():
        if in_scope(scope, p):
            for name, value in json.loads(p["features"]).items():
                values.setdefault(name, []).append(value)
    return values


def category_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
