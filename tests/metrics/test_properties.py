"""Properties over every metric an evaluation reports: intervals contain the value,
more data narrows them, and statistics survive a round trip through plain data."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liveeval.metrics import ConfusionMatrix, Evaluation, ScoreDistribution


@st.composite
def labelled_scores(draw):
    n = draw(st.integers(1, 150))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    s = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    lat = np.array(draw(st.lists(st.floats(0, 3), min_size=n, max_size=n)))
    return y, s, lat


@settings(max_examples=80, deadline=None)
@given(labelled_scores())
def test_every_interval_contains_its_value(case):
    y, s, lat = case
    ev = Evaluation.create([0, 1], pos_label=1).update(y, y_score=s)
    ev.update_operational(latency_seconds=lat, failed=np.zeros(len(y), bool))
    for name, m in ev.result(min_recall=0.5, cost_fp=1, cost_fn=5).metrics.items():
        if m.value is None or m.lower is None or m.upper is None:
            # No interval only where the value is undefined or a zero-division substitute,
            # or the bootstrap could not resample a defined value.
            assert m.reason is not None or not m.is_defined or "no interval" in m.method, name
            continue
        assert m.lower - 1e-12 <= m.value <= m.upper + 1e-12, (name, m)
        assert 0 < m.confidence < 1


def test_more_data_narrows_every_interval():
    rng = np.random.default_rng(4)

    def widths(n: int) -> dict[str, float]:
        y = (rng.random(n) < 0.2).astype(int)
        s = 1 / (1 + np.exp(-rng.normal(-1.5 + 2.5 * y, 1.0)))
        ev = Evaluation.create([0, 1], pos_label=1).update(y, y_score=s)
        return {k: m.upper - m.lower for k, m in ev.result().metrics.items() if m.lower is not None}

    small, large = widths(500), widths(50_000)
    for name in small:
        assert large[name] < small[name], name


@settings(max_examples=40, deadline=None)
@given(labelled_scores())
def test_statistics_round_trip_through_json(case):
    y, s, _ = case
    cm = ConfusionMatrix.from_arrays(y, (s >= 0.5).astype(int), labels=[0, 1])
    back = ConfusionMatrix.from_dict(json.loads(json.dumps(cm.to_dict())))
    assert back.labels == cm.labels and np.array_equal(back.counts, cm.counts)
    dist = ScoreDistribution.from_arrays(y == 1, s, exact_limit=50)
    again = ScoreDistribution.from_dict(json.loads(json.dumps(dist.to_dict())))
    assert again.is_exact == dist.is_exact
    assert np.array_equal(again.keys, dist.keys) and np.array_equal(again.positive, dist.positive)
