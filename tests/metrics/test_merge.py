"""Merge laws of every statistic: associative, commutative, empty is identity, and
merged partitions equal one pass over everything."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liveeval.metrics import (
    ConfusionMatrix,
    Evaluation,
    LatencySketch,
    LossSums,
    ScoreDistribution,
)
from liveeval.metrics.grouped import grouped_evaluations


def result_dict(ev: Evaluation) -> dict:
    r = ev.result()
    return {k: (m.value, m.lower, m.upper, m.n) for k, m in r.metrics.items()}


def close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key], strict=True):
            if x is None or y is None:
                assert x is y, key
            elif np.isnan(x) or np.isnan(y):
                assert np.isnan(x) and np.isnan(y), key
            elif np.isinf(x) or np.isinf(y):
                assert x == y, key
            else:
                assert abs(x - y) <= 1e-9 * max(1.0, abs(x)), (key, x, y)


@st.composite
def chunks(draw, parts=3, exact_limit=None):
    out = []
    for _ in range(parts):
        n = draw(st.integers(0, 40))
        y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=int)
        s = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
        lat = np.array(draw(st.lists(st.floats(0, 5), min_size=n, max_size=n)))
        out.append((y, s, lat))
    limit = draw(st.sampled_from([10**9, 30, 0])) if exact_limit is None else exact_limit
    return out, limit


def build(chunk, limit) -> Evaluation:
    y, s, lat = chunk
    ev = Evaluation.create([0, 1], pos_label=1, exact_limit=limit)
    ev.update(y, y_score=s)
    ev.update_operational(latency_seconds=lat, failed=np.zeros(len(y), bool))
    return ev


@settings(max_examples=60, deadline=None)
@given(chunks())
def test_evaluation_merge_is_associative_and_commutative(case):
    parts, limit = case
    a, b, c = (build(p, limit) for p in parts)
    close(result_dict(a.merge(b).merge(c)), result_dict(a.merge(b.merge(c))))
    close(result_dict(a.merge(b)), result_dict(b.merge(a)))


@settings(max_examples=60, deadline=None)
@given(chunks())
def test_merged_partitions_equal_one_pass(case):
    parts, limit = case
    merged = build(parts[0], limit).merge(build(parts[1], limit)).merge(build(parts[2], limit))
    whole = tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
    close(result_dict(merged), result_dict(build(whole, limit)))


@settings(max_examples=40, deadline=None)
@given(chunks(parts=1))
def test_empty_is_identity(case):
    (part,), limit = case
    ev = build(part, limit)
    empty = Evaluation.create([0, 1], pos_label=1, exact_limit=limit)
    close(result_dict(ev.merge(empty)), result_dict(ev))
    close(result_dict(empty.merge(ev)), result_dict(ev))


def test_confusion_merge_unites_label_sets():
    a = ConfusionMatrix.from_arrays([0, 1], [0, 1])
    b = ConfusionMatrix.from_arrays([2, 2], [2, 0])
    m = a.merge(b)
    assert m.labels == (0, 1, 2)
    assert m.counts.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_score_distribution_switch_to_bins_is_order_independent():
    rng = np.random.default_rng(0)
    pieces = [
        ScoreDistribution.from_arrays(rng.random(50) < 0.3, rng.random(50), exact_limit=120)
        for _ in range(3)
    ]
    left = pieces[0].merge(pieces[1]).merge(pieces[2])
    right = pieces[0].merge(pieces[1].merge(pieces[2]))
    assert not left.is_exact and not right.is_exact
    assert np.array_equal(left.keys, right.keys)
    assert np.allclose(left.positive, right.positive)


def test_latency_and_loss_sums_merge():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 0.01, 1000)
    whole = LatencySketch().update(x)
    halves = LatencySketch().update(x[:400]).merge(LatencySketch().update(x[400:]))
    assert (
        whole.results()["latency_p95_seconds"].value
        == halves.results()["latency_p95_seconds"].value
    )
    y = rng.integers(0, 2, 1000)
    p = np.column_stack([1 - x / x.max(), x / x.max()])
    a = LossSums().update(y, p)
    b = LossSums().update(y[:300], p[:300]).merge(LossSums().update(y[300:], p[300:]))
    assert abs(a.log_loss - b.log_loss) < 1e-9


def test_grouped_evaluations_add_up_to_the_total():
    rng = np.random.default_rng(2)
    n = 5000
    y = rng.integers(0, 2, n)
    pred = rng.integers(0, 2, n)
    s = rng.random(n)
    g = rng.integers(0, 7, n)
    groups = grouped_evaluations(g, 7, (0, 1), 1, y, pred, score=s)
    total = groups[0]
    for ev in groups[1:]:
        total = total.merge(ev)
    assert np.array_equal(total.confusion.counts, ConfusionMatrix.from_arrays(y, pred).counts)
    for i, ev in enumerate(groups):
        mask = g == i
        assert np.array_equal(
            ev.confusion.counts,
            ConfusionMatrix.from_arrays(y[mask], pred[mask], labels=[0, 1]).counts,
        )
