"""The bulk Arrow upload against the stub server: rejected rows are surfaced by their
index in the table and counted in the client's stats."""

from __future__ import annotations

import threading
import time

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
    # Two chunks are in flight: the stub may store the second before the first.
    assert sorted(n for _, n in stub.batches) == [2, 4, 4]
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


def _first_id(body: bytes) -> str:
    return str(pa.ipc.open_stream(body).read_all().column("id")[0])


def _upload_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("liveeval-table")]


def _wait_for(condition, what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_answers_coming_back_out_of_order_are_counted_in_table_order(stub: Stub) -> None:
    in_flight: list[int] = []

    def hold_the_first_chunk(path: str, body: bytes) -> None:
        with stub.lock:
            in_flight.append(stub.arrived - len(stub.batches))
        if _first_id(body) == "t0":
            # Answered only once the second chunk has arrived and been stored.
            _wait_for(lambda: len(stub.batches) >= 1, "the second chunk")

    stub.hook = hold_the_first_chunk
    with Client(stub.url, **FAST) as client:
        summary = client.log_prediction_table(_table(10, {1, 6, 9}), chunk_rows=4)
    assert [n for _, n in stub.batches] == [4, 4, 2]
    assert stub.predictions.keys() == {f"t{i}" for i in range(10)} - {"t1", "t6", "t9"}
    assert max(in_flight) == 2
    assert (summary["stored"], summary["rejected"]) == (7, 3)
    assert [(r["index"], r["id"]) for r in summary["rejections"]] == [
        (1, "t1"),
        (6, "t6"),
        (9, "t9"),
    ]
    assert (client.stats.accepted, client.stats.rejected) == (7, 3)
    assert _upload_threads() == []


def test_a_chunk_refused_in_the_middle_counts_the_chunk_sent_after_it_and_sends_no_more(
    stub: Stub,
) -> None:
    stub.contract = "old"
    scores = [0.1] * 12
    scores[4] = None
    table = _table(12, set()).set_column(3, "score", pa.array(scores))
    with Client(stub.url, **FAST) as client:
        with pytest.raises(
            ValidationError,
            match=r"^<table>, row 3: liveeval refused rows 3\.\.5 as a whole \(422: Arrow batch "
            r"column 'score' has missing values\); 3 rows were stored before, 3 after it$",
        ):
            client.log_prediction_table(table, chunk_rows=3)
    # Rows 6..8 were on their way when rows 3..5 were refused; rows 9..11 never left.
    assert len(stub.batches) == 3
    assert (client.stats.accepted, client.stats.rejected) == (6, 3)
    assert _upload_threads() == []


def test_a_server_dying_mid_upload_raises_a_delivery_error_after_the_chunks_in_flight(
    stub: Stub,
) -> None:
    def die_after_the_first_chunk(path: str, body: bytes) -> None:
        if _first_id(body) != "t0":
            _wait_for(lambda: len(stub.batches) >= 1, "the first chunk")
            stub.dead = True

    stub.hook = die_after_the_first_chunk
    with Client(stub.url, **FAST) as client:
        with pytest.raises(
            DeliveryError,
            match=r"^rows 2\.\.3 not delivered to http://127\.0\.0\.1:\d+: unreachable: .*; "
            r"2 rows were stored before$",
        ) as raised:
            client.log_prediction_table(_table(8, set()), chunk_rows=2)
    assert raised.value.summary == {
        "stored": 2,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
        "rejections": [],
    }
    # Rows 2..5 were in flight and retried (FAST: one retry each); rows 6..7 never left.
    assert (client.stats.accepted, client.stats.failed) == (2, 4)
    assert stub.arrived == 5
    assert _upload_threads() == []
