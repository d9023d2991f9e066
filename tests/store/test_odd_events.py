"""A read never fails on stored data: odd but accepted events (and the odder rows a
store written before validation may hold) on every engine."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import numpy as np
import pytest

from liveeval.store import Scope, encode_label

from .scenario import ENGINES, TS, Scenario, close_source, open_engine

HUGE = {f"feature_{i}": i * 0.5 for i in range(1500)}
NESTED = {
    "obj": {"a": [1, {"b": None}]},
    "list": [1, "two", None],
    "null": None,
    "big": 1e308,
    "small": -1e308,
    "int": 2**70,
    "nan": math.nan,  # json.dumps writes NaN, which the JSON parsers accept
    "inf": math.inf,
    "ünïcødé ✓": "値",
    "": "empty key",
    'quote"key': 1,
    "back\\slash": 2,
    "empty": "",
}


def prediction(i: int, model: str = "m", **fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "id": f"{model}-{i}",
        "model": model,
        "version": "v1",
        "ts": TS + dt.timedelta(minutes=i),
        "status": "ok",
        "latency_total_s": 0.0,
    }
    event.update(fields)
    return event


def outcome(i: int, label: object, model: str = "m", **fields: object) -> dict[str, object]:
    return {
        "prediction_id": f"{model}-{i}",
        "label": label,
        "ts": TS + dt.timedelta(days=1),
        **fields,
    }


def odd_scenario() -> Scenario:
    predictions = [
        prediction(0, score=0.0, label=encode_label(0), segment=""),
        prediction(1, score=1.0, label=encode_label(1), segment="x" * 20_000),
        prediction(2, score=1.0, label=encode_label(1), segment="セグメント", version="ü"),
        prediction(3, score=0.5, label=encode_label(1), features=json.dumps(HUGE)),
        prediction(4, score=0.25, label=encode_label(0), features=json.dumps(NESTED)),
        prediction(5, score=0.75, label=encode_label(1), features="{}"),
        prediction(6, score=0.6, label=encode_label(1), features="[1, 2]"),
        prediction(7, status="error", error_type="Ünicode\nError", features='"text"'),
        prediction(8, score=0.1, label=encode_label(""), latency_total_s=None),
        prediction(9, score=0.9, label=encode_label("NaN"), latency_total_s=1e6),
        # Rows a store written before validation may hold.
        prediction(10, score=math.nan, label=encode_label(1)),
        prediction(11, score=1.5, label=encode_label(0), features="not json"),
        prediction(12, score=-0.5, label="NaN"),
        prediction(13, score=0.3, label="Infinity", features=""),
        # Multiclass, with probabilities that do not fit.
        prediction(0, "multi", label=encode_label("a"), probas=[0.2, 0.3, 0.5]),
        prediction(1, "multi", label=encode_label("b"), probas=[0.5, 0.5]),
        prediction(2, "multi", label=encode_label("c"), probas=[math.nan, 0.5, 0.5]),
        prediction(3, "multi", label=encode_label("c"), probas=[0.0, 0.0, 1.0]),
        prediction(4, "multi", label=encode_label("a"), probas=[1.0, 0.0, 0.0]),
    ]
    outcomes = [
        outcome(0, encode_label(0), value=0.0),
        outcome(1, encode_label(True), value=math.nan),
        outcome(2, encode_label("1.0"), value=math.inf),
        outcome(3, encode_label("-inf")),
        outcome(4, encode_label("nan")),
        outcome(5, encode_label("")),
        outcome(6, encode_label("Infinity")),
        outcome(7, encode_label(1)),
        outcome(8, encode_label("1e400")),
        outcome(9, "NaN"),
        outcome(10, encode_label(1), value=1e308),
        outcome(11, encode_label(0), value=-1e308),
        outcome(12, encode_label(1)),
        outcome(13, encode_label("٣")),  # a digit, but not an ASCII one
        outcome(0, encode_label("a"), "multi"),
        outcome(1, encode_label("b"), "multi"),
        outcome(2, encode_label("c"), "multi"),
        outcome(3, encode_label("d"), "multi"),  # outside the declared classes
        outcome(4, encode_label("a"), "multi"),
    ]
    arrivals = [("outcomes", o) for o in outcomes[::2]] + [("predictions", p) for p in predictions]
    arrivals += [("outcomes", o) for o in outcomes[1::2]]
    return Scenario(arrivals, None, None, False)


@pytest.fixture(scope="module", params=ENGINES)
def odd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    source = open_engine(
        request.param, tmp_path_factory.mktemp(request.param), odd_scenario(), request
    )
    yield source
    close_source(source)


@pytest.mark.parametrize(
    ("scope", "classes", "pos_label"),
    [
        (Scope("m"), None, None),
        (Scope("m"), (0, 1), 1),
        (Scope("m"), (0.0, 1.0), 1.0),
        (Scope("m", segment=""), None, None),
        (Scope("m", version="ü"), None, None),
        (Scope("multi"), None, None),
        (Scope("multi"), ("a", "b", "c"), None),
        (Scope("nobody"), None, None),
    ],
)
def test_statistics_answer_on_odd_events(odd, scope, classes, pos_label):
    stats = odd.statistics(scope, classes=classes, pos_label=pos_label)
    if stats.evaluation is not None:
        result = stats.evaluation.result()
        assert result.rows == stats.labelled
        for metric in result.metrics.values():
            assert metric.value is None or not math.isnan(metric.value) or metric.reason
    business = stats.business_metrics()
    assert all(r.value is None or math.isfinite(r.value) for r in business.values())
    assert stats.label_coverage is None or 0 <= stats.label_coverage <= 1


def test_odd_labels_are_kept_as_their_own_classes_without_declared_ones(odd):
    stats = odd.statistics(Scope("m"))
    # Strings that are no number stay strings (never a new spelling of 0 or 1).
    assert {"", "NaN", "nan", "-inf", "Infinity", "1e400"} <= set(stats.labels)
    assert not stats.notes


def test_labels_outside_the_declared_classes_are_counted_apart_not_classes(odd):
    stats = odd.statistics(Scope("m"), classes=(0, 1), pos_label=1)
    assert stats.labels == (0, 1)
    assert stats.evaluation is not None and stats.evaluation.pos_label == 1
    assert stats.evaluation.confusion.counts.sum() == stats.labelled
    (note,) = stats.notes
    assert re.match(
        r"\d+ labelled pairs hold a label outside the model's classes \[0, 1\] \(.*'1e400'.*\): "
        "left out of every metric",
        note,
    )
    left_out = int(note.split()[0])
    everything = odd.statistics(Scope("m"))
    assert stats.labelled + left_out == everything.labelled


def test_multiclass_reads_leave_out_labels_outside_the_classes(odd):
    declared = odd.statistics(Scope("multi"), classes=("a", "b", "c"))
    assert declared.labels == ("a", "b", "c")
    assert declared.notes == [
        "1 labelled pair holds a label outside the model's classes ['a', 'b', 'c'] ('d'): "
        "left out of every metric (an outcome sent before its prediction cannot be checked "
        "against the classes)"
    ]
    assert declared.evaluation is not None
    declared.evaluation.result()
    inferred = odd.statistics(Scope("multi"))
    assert inferred.evaluation is not None
    inferred.evaluation.result()


@pytest.mark.parametrize(
    ("by", "every"), [(("version", "segment"), None), ((), dt.timedelta(minutes=5))]
)
def test_grouped_statistics_answer_on_odd_events(odd, by, every):
    groups = odd.grouped_statistics(Scope("m"), by, every=every)
    assert sum(g.predictions for g in groups.values()) == 14
    for stats in groups.values():
        if stats.evaluation is not None:
            stats.evaluation.result()


def test_feature_histograms_answer_on_odd_features(odd):
    histograms = odd.feature_histograms(Scope("m"), bins=4, max_categories=3)
    assert len([name for name in histograms if name.startswith("feature_")]) == 1500
    # One value: numpy's edges are the value ± 0.5.
    assert histograms["feature_1499"].counts == tuple(np.histogram([749.5], bins=4)[0])
    assert histograms["ünïcødé ✓"].categories == {"値": 1}
    assert histograms[""].categories == {"empty key": 1}
    assert histograms['quote"key'].edges and histograms["back\\slash"].rows == 1
    assert histograms["obj"].categories == {'{"a":[1,{"b":null}]}': 1}
    assert histograms["null"].missing == 1
    assert histograms["nan"].missing == 1 and histograms["inf"].missing == 1
    assert histograms["empty"].categories == {"": 1}
    for name in ("big", "small", "int"):
        h = histograms[name]
        assert sum(h.counts) == 1 and all(math.isfinite(e) for e in h.edges)
    # Edges spanning the whole float range are still finite and increasing.
    both = odd.feature_histograms(Scope("m"), ["big"], edges={"big": [-1e308, 0.0, 1e308]})
    assert both["big"].counts == (0, 1)


def test_feature_histograms_reject_bad_arguments_by_name(odd):
    from liveeval.errors import ValidationError

    with pytest.raises(ValidationError, match="bins must be a positive integer, got 0"):
        odd.feature_histograms(Scope("m"), bins=0)
    with pytest.raises(ValidationError, match="bin edges for feature 'amount' must be"):
        odd.feature_histograms(Scope("m"), edges={"amount": [1.0, 1.0]})


def test_a_note_names_at_most_ten_labels_outside_the_classes():
    import pyarrow as pa

    from liveeval.store.duck.aggregate import assemble

    sums = dict.fromkeys(("ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4"), 0)
    blank = {**sums, "vn": 0, "vs": 0.0, "vss": 0.0, "vbin": True}
    cells = [{**blank, "t": encode_label(1), "pl": encode_label(1), "n": 3}]
    cells += [
        {**blank, "t": encode_label(f"x{i:02}"), "pl": encode_label(0), "n": 1} for i in range(12)
    ]
    scores = pa.table({"t": pa.array([], pa.string()), "key": pa.array([], pa.float64()),
                       "n": pa.array([], pa.int64())})  # fmt: skip
    stats = assemble(cells, scores, None, (15, 0, 0), classes=(0, 1), pos_label=1,
                     exact=True, resolution=1000)  # fmt: skip
    assert stats.labels == (0, 1) and stats.labelled == 3
    (note,) = stats.notes
    assert note.startswith(
        "12 labelled pairs hold a label outside the model's classes [0, 1] ('x00', 'x01', "
    )
    assert "'x09' and 2 more): left out of every metric" in note
