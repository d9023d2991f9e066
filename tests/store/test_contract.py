"""The store contract: every engine gives the same statistics for the same events,
equal to scikit-learn's on the events the store keeps.

Engines: a DuckDB file (journal, group commit and in-line commits mixed), DuckDB
``:memory:`` (no journal), a :class:`TableSource` over Arrow tables, and a
:class:`TableSource` over the Parquet that ``export`` writes. Events arrive in a
random order (outcomes before their predictions), with retries (duplicates),
conflicting repeats (the first one counts), failed predictions, outcome labels in
every JSON type of one class, segments (one of them long and not ASCII), versions
and three days of timestamps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
ENGINES = ["duckdb-file", "duckdb-memory", "table-arrow", "table-parquet"]
SPELLINGS = {1: ["1", 1, 1.0, True, "1.0"], 0: ["0", 0, 0.0, False, "false"]}


@dataclass
class Scenario:
    arrivals: list[tuple[str, dict[str, Any]]]
    classes: tuple[Any, ...] | None
    pos_label: Any
    multiclass: bool
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

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


def make_scenario(seed: int, n: int = 180, *, multiclass: bool = False, k: int = 3) -> Scenario:
    rng = np.random.default_rng(seed)
    predictions, outcomes = [], []
    for i in range(n):
        failed = rng.random() < 0.06
        event: dict[str, Any] = {
            "id": f"p{i}",
            "model": "m",
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
                "prediction_id": f"p{i}",
                "label": encode_label(spelling),
                "ts": TS + dt.timedelta(days=4),
            }
            if i % 4 == 0:
                outcome["value"] = float(rng.integers(0, 2))
            outcomes.append(outcome)
    for j in range(5):  # outcomes whose prediction never comes
        outcomes.append(
            {
                "prediction_id": f"ghost{j}",
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


def _batches(arrivals: list[tuple[str, dict[str, Any]]], seed: int) -> Iterator[tuple[str, list]]:
    """Runs of one kind, cut into batches of 1 to 12 events."""
    rng = np.random.default_rng(seed)
    at = 0
    while at < len(arrivals):
        kind = arrivals[at][0]
        size = int(rng.integers(1, 13))
        batch = []
        while at < len(arrivals) and arrivals[at][0] == kind and len(batch) < size:
            batch.append(arrivals[at][1])
            at += 1
        yield kind, batch


def _write_duck(location: str, scenario: Scenario) -> Any:
    engine = open_store(location)

    async def write(kind: str, batch: list[dict[str, Any]]) -> None:
        await engine.write(kind, batch)

    for i, (kind, batch) in enumerate(_batches(scenario.arrivals, 1)):
        if i % 2:
            asyncio.run(write(kind, batch))  # group commit through the journal
        else:
            engine.commit(kind, batch)  # in line, from a plain thread
    return engine


def open_engine(name: str, folder: Any, scenario: Scenario) -> StatisticsSource:
    if name == "duckdb-file":
        return _write_duck(str(folder / "store.duckdb"), scenario)
    if name == "duckdb-memory":
        return _write_duck(":memory:", scenario)
    if name == "table-arrow":
        tables = {
            kind: events_table(kind, [e for k, e in scenario.arrivals if k == kind])
            for kind in ("predictions", "outcomes")
        }
        return TableSource(tables)
    engine = _write_duck(str(folder / "export.duckdb"), scenario)
    engine.export(folder / "parquet")
    engine.close()
    return TableSource.from_parquet(folder / "parquet")


def _close(source: StatisticsSource) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


@pytest.fixture(scope="module", params=ENGINES)
def binary(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    scenario = make_scenario(7)
    source = open_engine(request.param, tmp_path_factory.mktemp(request.param), scenario)
    yield source, scenario
    _close(source)


@pytest.fixture(scope="module", params=ENGINES)
def multiclass(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    scenario = make_scenario(11, multiclass=True)
    source = open_engine(request.param, tmp_path_factory.mktemp(request.param), scenario)
    yield source, scenario
    _close(source)


# -- the reference: the kept events, filtered in Python, measured by scikit-learn --------


def _in(scope: Scope, p: dict[str, Any]) -> bool:
    return (
        p["model"] == scope.model
        and (scope.version is None or p["version"] == scope.version)
        and (scope.segment is None or p.get("segment") == scope.segment)
        and (not scope.segment_is_null or p.get("segment") is None)
        and (scope.since is None or p["ts"] >= scope.since)
        and (scope.until is None or p["ts"] < scope.until)
    )


def _label(text: str | None) -> Any:
    return None if text is None else canonical_label(json.loads(text))


def reference_pairs(scenario: Scenario, scope: Scope) -> list[tuple[dict, dict]]:
    pairs = []
    for pid, p in scenario.predictions.items():
        o = scenario.outcomes.get(pid)
        if _in(scope, p) and o is not None and p["status"] == "ok":
            pairs.append((p, o))
    return pairs


def check_against_sklearn(stats: StoreStats, scenario: Scenario, scope: Scope) -> None:
    kept = [p for p in scenario.predictions.values() if _in(scope, p)]
    assert stats.predictions == len(kept)
    assert stats.failed == sum(p["status"] != "ok" for p in kept)
    pairs = reference_pairs(scenario, scope)
    assert stats.labelled == len(pairs)
    ghosts = [o for pid, o in scenario.outcomes.items() if pid not in scenario.predictions]
    assert stats.unmatched_outcomes == len(ghosts)
    values = [o["value"] for _, o in pairs if o.get("value") is not None]
    assert stats.values[0] == len(values)
    assert stats.values[1] == pytest.approx(sum(values))
    if not pairs:
        assert stats.evaluation is None or stats.evaluation.confusion.total == 0
        return
    assert stats.evaluation is not None
    y_true = [_label(o["label"]) for _, o in pairs]
    y_pred = [_label(p["label"]) for p, _ in pairs]
    classes = list(scenario.classes or sorted(set(y_true) | set(y_pred)))
    assert list(stats.labels) == classes  # "1", 1, 1.0 and true are one class
    assert stats.notes == []
    result = stats.evaluation.result()
    m = {name: r.value for name, r in result.metrics.items()}
    cm = skm.confusion_matrix(y_true, y_pred, labels=classes)
    np.testing.assert_array_equal(np.array(result.confusion_matrix), cm)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), rel=1e-12)
    if scenario.multiclass:
        proba = np.array([p["probas"] for p, _ in pairs])
        codes = np.array([classes.index(y) for y in y_true])
        if len(set(y_true)) == len(classes):
            auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
            assert m["roc_auc"] == pytest.approx(auc, rel=1e-12)
            assert m["log_loss"] == pytest.approx(
                skm.log_loss(y_true, proba, labels=classes), rel=1e-9
            )
        brier = np.mean(np.sum((proba - np.eye(len(classes))[codes]) ** 2, axis=1))
        assert m["brier"] == pytest.approx(brier, rel=1e-9)
        for name in ("precision_macro", "recall_macro", "f1_macro"):
            kind = name.removesuffix("_macro")
            fn: Callable[..., float] = getattr(skm, f"{kind}_score")
            expected = fn(y_true, y_pred, labels=classes, average="macro", zero_division=np.nan)
            if not math.isnan(expected) and m[name] is not None:
                assert m[name] == pytest.approx(expected, rel=1e-12)
    else:
        pos = scenario.pos_label
        y = np.array([t == pos for t in y_true])
        score = np.array([p["score"] for p, _ in pairs])
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            if m[name] is not None:
                assert m[name] == pytest.approx(
                    fn(y_true, y_pred, pos_label=pos, zero_division=0), rel=1e-12
                )
        if 0 < y.sum() < y.size:
            assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), rel=1e-12)
        assert m["log_loss"] == pytest.approx(skm.log_loss(y, score, labels=[0, 1]), rel=1e-9)
        assert m["brier"] == pytest.approx(skm.brier_score_loss(y, score), rel=1e-9)


SCOPES = [
    Scope("m"),
    Scope("m", version="v1"),
    Scope("m", segment="a"),
    Scope("m", segment=LONG_SEGMENT),
    Scope("m", segment_is_null=True),
    Scope("m", since=TS + dt.timedelta(days=1), until=TS + dt.timedelta(days=2)),
    Scope("m", version="v2", segment="b", since=TS + dt.timedelta(hours=12)),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: repr(s)[:60])
def test_binary_statistics_equal_sklearn_on_every_engine(binary, scope):
    source, scenario = binary
    stats = source.statistics(scope, classes=scenario.classes, pos_label=scenario.pos_label)
    check_against_sklearn(stats, scenario, scope)


@pytest.mark.parametrize("scope", SCOPES[:3], ids=lambda s: repr(s)[:60])
def test_multiclass_statistics_equal_sklearn_on_every_engine(multiclass, scope):
    source, scenario = multiclass
    stats = source.statistics(scope, classes=scenario.classes)
    check_against_sklearn(stats, scenario, scope)


def test_multiclass_probabilities_align_with_sorted_labels_when_no_classes_are_declared(
    multiclass,
):
    source, scenario = multiclass
    declared = source.statistics(Scope("m"), classes=scenario.classes)
    found = source.statistics(Scope("m"))
    assert found.labels == declared.labels
    assert found.evaluation is not None and declared.evaluation is not None
    a = found.evaluation.result().metrics
    b = declared.evaluation.result().metrics
    for name in ("roc_auc", "log_loss", "brier", "expected_calibration_error"):
        # Sums run in parallel in the database: equal to the last bits, not bit for bit.
        assert a[name].value == pytest.approx(b[name].value, rel=1e-12)


@pytest.mark.parametrize("classes", [(0, 1), (0.0, 1.0)])
def test_one_class_in_any_json_type_whatever_type_the_model_declares(binary, classes):
    source, scenario = binary
    stats = source.statistics(Scope("m"), classes=classes, pos_label=classes[1])
    assert stats.labels == classes
    check_against_sklearn(stats, scenario, Scope("m"))


GROUPINGS: list[tuple[tuple[str, ...], dt.timedelta | None]] = [
    (("version",), None),
    (("segment",), None),
    (("version", "segment"), None),
    ((), dt.timedelta(days=1)),
    (("version",), dt.timedelta(hours=6)),
]


@pytest.mark.parametrize(("by", "every"), GROUPINGS)
def test_groups_equal_their_scopes_and_add_up_to_the_whole(binary, by, every):
    source, scenario = binary
    whole = source.statistics(Scope("m"), classes=scenario.classes, pos_label=scenario.pos_label)
    groups = source.grouped_statistics(
        Scope("m"), by, every=every, classes=scenario.classes, pos_label=scenario.pos_label
    )
    assert groups
    total = np.zeros((2, 2))
    for key, stats in groups.items():
        values = dict(zip(by, key, strict=False))
        scope = Scope(
            "m",
            version=values.get("version"),
            segment=values.get("segment"),
            segment_is_null="segment" in values and values["segment"] is None,
        )
        if every is not None:
            scope = Scope(
                "m",
                since=key[-1],
                until=key[-1] + every,
                version=scope.version,
                segment=scope.segment,
                segment_is_null=scope.segment_is_null,
            )
        check_against_sklearn(stats, scenario, scope)
        if stats.evaluation is not None:
            total += stats.evaluation.confusion.counts
    assert sum(s.predictions for s in groups.values()) == whole.predictions
    assert sum(s.labelled for s in groups.values()) == whole.labelled
    assert whole.evaluation is not None
    np.testing.assert_array_equal(total, whole.evaluation.confusion.counts)


def test_every_engine_gives_the_same_statistics(tmp_path):
    scenario = make_scenario(3, n=120)
    results = []
    for name in ENGINES:
        source = open_engine(name, tmp_path / name, scenario)
        stats = source.statistics(Scope("m"), classes=scenario.classes, pos_label=1.0)
        assert stats.evaluation is not None
        results.append(
            (
                stats.predictions,
                stats.failed,
                stats.labelled,
                stats.unmatched_outcomes,
                stats.values,
                {k: r.value for k, r in stats.evaluation.result().metrics.items()},
            )
        )
        assert source.models() == {"m"}
        assert source.has_model("m") and not source.has_model("n")
        assert source.versions_since(None) == [("m", "v1"), ("m", "v2")]
        assert source.count("predictions") == len(scenario.predictions)
        assert source.count("outcomes") == len(scenario.outcomes)
        _close(source)
    first = results[0]
    for r in results[1:]:
        assert r[:4] == first[:4]
        assert r[4] == pytest.approx(first[4], rel=1e-12)
        assert r[5].keys() == first[5].keys()
        for name, value in r[5].items():
            assert value == pytest.approx(first[5][name], rel=1e-12, nan_ok=True), name


@pytest.mark.parametrize("seed", [1, 2])
def test_arrival_order_does_not_change_statistics(tmp_path, seed):
    scenario = make_scenario(5, n=80)
    rng = np.random.default_rng(seed)
    # Same events, another order; conflicting repeats are dropped so "first" is the same.
    originals = [
        (k, e)
        for k, e in scenario.arrivals
        if e is scenario.predictions.get(e.get("id", ""))
        or e is scenario.outcomes.get(e.get("prediction_id", ""))
    ]
    shuffled = Scenario(
        [originals[i] for i in rng.permutation(len(originals))], (0.0, 1.0), 1.0, False
    )
    source = open_engine("duckdb-file", tmp_path, shuffled)
    try:
        check_against_sklearn(
            source.statistics(Scope("m"), classes=(0.0, 1.0), pos_label=1.0), shuffled, Scope("m")
        )
    finally:
        _close(source)


# -- feature histograms ------------------------------------------------------------------


def reference_features(scenario: Scenario, scope: Scope) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for p in scenario.predictions.values():
        if _in(scope, p):
            for name, value in json.loads(p["features"]).items():
                values.setdefault(name, []).append(value)
    return values


def _category(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("scope", SCOPES[:4], ids=lambda s: repr(s)[:60])
def test_feature_histograms_equal_numpy_on_every_engine(binary, scope):
    source, scenario = binary
    got = source.feature_histograms(scope, bins=8)
    expected = reference_features(scenario, scope)
    assert set(got) == set(expected)
    for name, values in expected.items():
        h = got[name]
        assert h.rows == len(values)
        assert h.missing == sum(v is None for v in values)
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            counts, edges = np.histogram(numbers, bins=8)
            np.testing.assert_allclose(h.edges, edges, rtol=1e-12)
            assert list(h.counts) == counts.tolist()
        else:
            assert h.edges == () and h.counts == ()
        others = Counter(
            _category(v)
            for v in values
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool))
        )
        assert h.categories == dict(others)
        assert h.other == 0
        total = sum(h.counts) + h.below + h.above + sum(h.categories.values()) + h.other
        assert total + h.missing == h.rows


def test_feature_histograms_take_given_edges_and_count_outside_them(binary):
    source, scenario = binary
    edges = [0.0, 10.0, 20.0, 40.0]
    got = source.feature_histograms(Scope("m"), ["amount"], edges={"amount": edges})
    assert set(got) == {"amount"}
    amounts = np.array(reference_features(scenario, Scope("m"))["amount"])
    h = got["amount"]
    assert h.edges == tuple(edges)
    assert list(h.counts) == np.histogram(amounts, bins=edges)[0].tolist()
    assert h.above == int((amounts > 40.0).sum())
    assert h.below == 0


def test_feature_histograms_keep_the_most_frequent_categories(binary):
    source, scenario = binary
    got = source.feature_histograms(Scope("m"), ["country"], max_categories=2)["country"]
    counts = Counter(reference_features(scenario, Scope("m"))["country"])
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert got.categories == dict(top)
    assert got.other == sum(counts.values()) - sum(n for _, n in top)
