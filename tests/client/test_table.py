"""The bulk Arrow upload against the stub server: rejected rows are surfaced by their
index in the table and counted in the client's stats."""

from __future__ import annotations

import pyarrow as pa
import pytest

from liveeval.client import Client, DeliveryError
from liveeval.errors import ValidationError

from .conftest import Stub, free_port

FAST = {"retries": 1, "backoff": 0.01, "flush_interval": 0.05}


def _table(n: int, bad: set[int]) -> pa.Table:
    return pa.table(
        {
            "id": [f"t{i}" for i in range(n)],
            "model": ["bulk"] * n,
            "label": [i % 2 for i in range(n)],
            "score": [1.5 if i in bad else 0.1 * (i % 10) for i in range(n)],
        }
    )


def test_rejected_rows_are_reported_by_their_index_in_the_table(stub: Stub) -> None:
    with Client(stub.url, **FAST) as client:
        summary = client.log_prediction_table(_table(10, {5, 9}), chunk_rows=4)
    assert [n for _, n in stub.batches] == [4, 4, 2]
    assert (
        summary["stored"],
        summary["rejected"],
        summary["duplicates"],
        summary["conflicts"],
    ) == (8, 2, 0, 0)
    assert summary["rejections"] == [
        {
            "index": 5,
            "id": "t5",
            "status": "rejected",
            "detail": "score: 1.5 is not a probability in [0, 1]",
        },
        {
            "index": 9,
            "id": "t9",
            "status": "rejected",
            "detail": "score: 1.5 is not a probability in [0, 1]",
        },
    ]
    s = client.stats
    assert (s.accepted, s.rejected) == (8, 2)
    assert s.reasons[-1] == "prediction t9: rejected: score: 1.5 is not a probability in [0, 1]"


def test_a_chunk_whose_every_row_is_rejected_is_counted_not_raised(stub: Stub) -> None:
    with Client(stub.url, **FAST) as client:
        summary = client.log_prediction_table(_table(6, {3, 4, 5}), chunk_rows=3)
    assert (summary["stored"], summary["rejected"]) == (3, 3)
    assert [r["index"] for r in summary["rejections"]] == [3, 4, 5]


def test_a_chunk_refused_as_a_whole_raises_after_counting_what_was_stored(stub: Stub) -> None:
    stub.contract = "old"
    table = _table(6, set()).set_column(3, "score", pa.array([0.1, 0.2, 0.3, None, 0.5, 0.6]))
    with Client(stub.url, **FAST) as client:
        with pytest.raises(
            ValidationError,
            match=r"^<table>, row 3: liveeval refused rows 3\.\.5 as a whole \(422: Arrow batch column 'score' "
            r"has missing values\); 3 rows were stored before$",
        ):
            client.log_prediction_table(table, chunk_rows=3)
    assert (client.stats.accepted, client.stats.rejected) == (3, 3)


def test_a_server_down_raises_a_delivery_error_with_the_summary() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", **FAST) as client:
        with pytest.raises(
            DeliveryError,
            match=r"^rows 0\.\.1 not delivered to http://127\.0\.0\.1:\d+: unreachable",
        ) as raised:
            client.log_prediction_table(_table(2, set()))
    assert raised.value.summary == {
        "stored": 0,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
        "rejections": [],
    }
    assert client.stats.failed == 2


def test_a_table_without_a_model_column_is_an_error() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", **FAST) as client:
        with pytest.raises(
            ValidationError, match=r"^<table>: the table needs a 'model' column; it has \['id'\]"
        ):
            client.log_prediction_table({"id": ["a"]})
