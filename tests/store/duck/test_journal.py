import datetime as dt

import pyarrow as pa
import pytest

from liveeval.errors import StoreLocked
from liveeval.store.duck.journal import Journal, Position, json_lines, to_table
from liveeval.store.events import SCHEMAS


def rows(n, start=0):
    return [
        {
            "id": f"p{start + i}",
            "model": "m",
            "version": "v1",
            "ts": dt.datetime(2026, 11, 1, 12, 0, i % 60, 123456),
            "label": "1",
            "score": 0.1 + i / 1000,
            "probas": None,
            "status": "ok",
        }
        for i in range(n)
    ]


@pytest.fixture
def open_journal():
    opened = []

    def open_(*args, **kwargs):
        journal = Journal(*args, **kwargs)
        opened.append(journal)
        return journal

    yield open_
    for journal in opened:
        journal.close()


def test_json_lines_round_trip_to_the_store_layout():
    table = to_table("predictions", json_lines(rows(3)))
    assert table.schema == SCHEMAS["predictions"]
    back = table.to_pylist()
    assert back[2]["ts"] == dt.datetime(2026, 11, 1, 12, 0, 2, 123456)
    assert back[1]["score"] == 0.1 + 1 / 1000  # every digit survives
    assert back[0]["segment"] is None


def test_records_read_back_in_order_after_a_position(tmp_path, open_journal):
    journal = open_journal(tmp_path / "j")
    first = journal.append([("predictions", json_lines(rows(2)))])
    table = pa.table({"prediction_id": ["p0"], "label": ["1"], "value": [None], "ts": [None]})
    table = table.cast(SCHEMAS["outcomes"])
    journal.append([("outcomes", table)])
    records = list(journal.read(Position(1, 0)))
    assert [r.kind for r in records] == ["predictions", "outcomes"]
    assert records[0].end == first
    assert [r.kind for r in journal.read(first)] == ["outcomes"]


def test_a_torn_tail_is_cut_off_on_open(tmp_path, open_journal):
    journal = open_journal(tmp_path / "j")
    end = journal.append([("predictions", json_lines(rows(2)))])
    journal.append([("predictions", json_lines(rows(2, 2)))])
    journal.close()
    segment = tmp_path / "j" / "000001.log"
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) - 5])  # a crash mid-append
    reopened = open_journal(tmp_path / "j")
    assert reopened.end == end
    assert [len(to_table(r.kind, r.payload)) for r in reopened.read(Position(1, 0))] == [2]


def test_segments_rotate_and_loaded_ones_are_discarded(tmp_path, open_journal):
    journal = open_journal(tmp_path / "j", segment_bytes=2_000)
    ends = [journal.append([("predictions", json_lines(rows(5, 5 * i)))]) for i in range(10)]
    assert len(journal.segments()) > 2
    assert sum(len(to_table("predictions", r.payload)) for r in journal.read(Position(1, 0))) == 50
    journal.discard_before(ends[-1])
    assert journal.segments()[0] == ends[-1].segment


def test_write_then_sync_makes_the_write_durable(tmp_path, open_journal):
    journal = open_journal(tmp_path / "j")
    end = journal.write([("predictions", json_lines(rows(1)))])
    assert journal.durable < end
    assert journal.sync() == end == journal.durable


def test_a_journal_has_one_writer(tmp_path):
    journal = Journal(tmp_path / "j")
    with pytest.raises(StoreLocked, match="in use by another"):
        Journal(tmp_path / "j")
    journal.close()
    Journal(tmp_path / "j").close()  # free again once closed
