"""Windows before 1970 (negative buckets) hold their own predictions on every engine:
PostgreSQL's integer division truncates toward zero, the window of a bucket is its floor."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from liveeval.store import Scope, encode_label

from .scenario import ENGINES, Scenario, close_source, open_engine

START = dt.datetime(1969, 12, 31, 22, 0)
SINCE = dt.datetime(1969, 12, 30)
UNTIL = dt.datetime(1970, 1, 3)


def _minutes(i: int) -> int:
    return (i * 37) % 240  # spread over the four hours 22:00-02:00, uneven per hour


def pre1970_scenario() -> Scenario:
    arrivals: list[tuple[str, dict[str, object]]] = []
    for i in range(120):
        arrivals.append(
            (
                "predictions",
                {
                    "id": f"p{i}",
                    "model": "m",
                    "version": "v1",
                    "ts": START + dt.timedelta(minutes=_minutes(i)),
                    "status": "ok",
                    "label": encode_label(i % 2),
                    "score": 0.8 if i % 2 else 0.2,
                    "latency_total_s": 0.01,
                },
            )
        )
        if i % 3:
            outcome = {"prediction_id": f"p{i}", "label": encode_label(1), "ts": START}
            arrivals.append(("outcomes", outcome))
    return Scenario(arrivals, None, None, False)


@pytest.fixture(scope="module", params=ENGINES)
def before_1970(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    source = open_engine(
        request.param, tmp_path_factory.mktemp(request.param), pre1970_scenario(), request
    )
    yield source
    close_source(source)


def _truth(every: dt.timedelta) -> Counter[dt.datetime]:
    epoch = dt.datetime(1970, 1, 1)
    span = every.total_seconds()
    counts: Counter[dt.datetime] = Counter()
    for i in range(120):
        seconds = (START + dt.timedelta(minutes=_minutes(i)) - epoch).total_seconds()
        counts[epoch + dt.timedelta(seconds=(seconds // span) * span)] += 1
    return counts


@pytest.mark.parametrize("every", [dt.timedelta(hours=1), dt.timedelta(days=1)])
def test_windows_before_1970_hold_their_own_predictions(before_1970, every):
    groups = before_1970.grouped_statistics(Scope("m", since=SINCE, until=UNTIL), every=every)
    counts = {key[-1]: stats.predictions for key, stats in groups.items() if stats.predictions}
    assert counts == dict(_truth(every))
    labelled = sum(stats.labelled for stats in groups.values())
    assert labelled == 80
