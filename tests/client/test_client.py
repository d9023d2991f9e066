"""The client against a stub server on 127.0.0.1 that answers per the per-event
contract ("new") or today's whole-batch 422 ("old")."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from liveeval.client import (
    Client,
    ClientClosedError,
    EventTypeError,
    EventValueError,
    InvalidEventError,
    QueueFullError,
)
from liveeval.client import _client as client_module
from liveeval.client._http import Transport
from liveeval.errors import LiveevalError, ValidationError

from .conftest import Stub, free_port

FAST = {"retries": 2, "backoff": 0.01, "flush_interval": 0.05}


def _good(i: int) -> dict[str, Any]:
    return {"id": f"p{i}", "label": i % 2, "score": 0.25 + 0.5 * (i % 2)}


def _all_counted(client: Client, n: int) -> None:
    s = client.stats
    total = s.accepted + s.duplicates + s.conflicts + s.rejected + s.failed + s.dropped
    assert total + s.undelivered + s.pending == n, s


def _one_batch(stub: Stub, client: Client, events: list[dict[str, Any]]) -> None:
    """Log ``events`` so that they leave in one request: a first event holds the
    sender at the stub's gate while the others queue up behind it."""
    stub.gate = threading.Event()
    client.log_prediction("warm", label=0, id="warm-up")
    while not stub.arrived:
        time.sleep(0.005)
    for event in events:
        client.log_prediction("m", **event)
    stub.gate.set()
    assert client.flush(30)


def test_a_numpy_label_from_a_sklearn_model_is_sent_through_track(stub: Stub) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    model = LogisticRegression().fit(x, y)
    with Client(stub.url, **FAST) as client:

        @client.track("sk", version="v1")
        def predict(row: np.ndarray) -> dict[str, Any]:
            return {"label": model.predict(row)[0], "probas": model.predict_proba(row)[0]}

        results = [predict(x[i : i + 1]) for i in range(20)]
        assert all(isinstance(r["label"], np.int64) for r in results)
        assert client.flush(10)
    # The with block returned: the sender survived the numpy values.
    assert client.stats.accepted == 20 and client.stats.rejected == 0
    stored = stub.predictions[results[3]["prediction_id"]]
    assert stored["label"] == int(model.predict(x[3:4])[0]) and type(stored["label"]) is int
    assert stored["probas"] == pytest.approx(model.predict_proba(x[3:4])[0].tolist())
    assert stored["model"] == "sk" and stored["version"] == "v1"


def test_numpy_and_pandas_values_arrive_as_json(stub: Stub) -> None:
    paris = pd.Timestamp("2026-11-01 13:00", tz="Europe/Paris")
    with Client(stub.url, **FAST) as client:
        pid = client.log_prediction(
            np.str_("m"),
            label=np.bool_(True),
            score=np.float32(0.75),
            probas=[np.float64(0.25), 0.75],
            features={
                "amount": np.float64(12.5),
                "missing": np.nan,
                "when": paris,
                "tags": np.array([1, 2]),
            },
            segment=pd.NA,
            latency_total_s=np.array(0.004),
            ts=paris,
        )
        client.log_outcome(pid, label=np.int8(1), value=pd.NA, ts=datetime(2026, 11, 2, 9, 30))
    event = stub.predictions[pid]
    assert event["label"] is True and event["score"] == 0.75 and event["probas"] == [0.25, 0.75]
    assert event["features"] == {
        "amount": 12.5,
        "missing": None,
        "when": "2026-11-01T12:00:00+00:00",
        "tags": [1, 2],
    }
    assert "segment" not in event and event["latency_total_s"] == pytest.approx(0.004)
    assert event["ts"] == "2026-11-01T12:00:00+00:00"
    assert stub.outcomes == [{"prediction_id": pid, "label": 1, "ts": "2026-11-02T09:30:00"}]
    assert client.stats.accepted == 2 and client.stats.unmatched == 0


@pytest.mark.parametrize("contract", ["new", "old"])
def test_one_invalid_event_among_200_rejects_only_it(stub: Stub, contract: str) -> None:
    stub.contract = contract
    events = [_good(i) for i in range(200)]
    events[57]["score"] = 1.5
    with Client(stub.url, batch_size=200, **FAST) as client:
        _one_batch(stub, client, events)
    assert ("/v1/predictions", 200) in stub.batches
    assert len(stub.predictions) == 200  # the warm-up and the 199 valid ones
    assert "p57" not in stub.predictions
    s = client.stats
    assert (s.accepted, s.rejected, s.failed, s.pending) == (200, 1, 0, 0)
    assert s.reasons == (
        "prediction p57: rejected: score: Input should be less than or equal to 1",
    )
    [rejected] = client.rejected
    assert rejected.event["id"] == "p57" and rejected.event["score"] == 1.5
    if contract == "old":  # the 199 were sent again without the invalid one
        assert stub.batches[-1] == ("/v1/predictions", 199)


def test_several_invalid_events_of_an_old_422_are_each_rejected_with_their_reason(
    stub: Stub,
) -> None:
    stub.contract = "old"
    events = [_good(i) for i in range(50)]
    events[3]["score"] = -0.5
    events[40]["label"] = 0.5  # a float label: a union error per branch
    events[41] = {"id": "p41", "status": "ok", "score": 0.5}
    with Client(stub.url, batch_size=50, **FAST) as client:
        _one_batch(stub, client, events)
    s = client.stats
    assert (s.accepted, s.rejected) == (48, 3)
    assert set(s.reasons) == {
        "prediction p3: rejected: score: Input should be less than or equal to 1",
        "prediction p40: rejected: label: Input should be a valid integer",
        "prediction p41: rejected: a successful prediction (status 'ok') needs its predicted 'label'",
    }


def test_a_batch_whose_every_event_is_invalid_is_rejected_event_by_event(stub: Stub) -> None:
    with Client(stub.url, **FAST) as client:
        for i in range(5):
            client.log_prediction("m", id=f"b{i}", label=1, score=2.0 + i)
    assert client.stats.rejected == 5 and client.stats.accepted == 0
    assert not stub.predictions


def test_a_422_that_names_no_event_rejects_the_whole_request_with_its_reason(stub: Stub) -> None:
    stub.contract = "refuse"
    with Client(stub.url, **FAST) as client:
        client.log_prediction("m", label=1)
    assert client.stats.rejected == 1
    assert (
        "the whole request was refused: 422: send the request body as application/json"
        in client.stats.reasons[0]
    )


@pytest.mark.parametrize("contract", ["new", "old"])
def test_duplicates_conflicts_and_unmatched_outcomes_are_counted(stub: Stub, contract: str) -> None:
    stub.contract = contract
    with Client(stub.url, **FAST) as client:
        client.log_prediction("m", id="a", label=1, ts="2026-11-01T00:00:00")
        assert client.flush(10)
        client.log_prediction("m", id="a", label=1, ts="2026-11-01T00:00:00")
        assert client.flush(10)
        client.log_prediction("m", id="a", label=0, ts="2026-11-01T00:00:00")
        client.log_outcome("nobody", label=1)
    s = client.stats
    assert (s.accepted, s.duplicates, s.conflicts) == (2, 1, 1)
    assert client.sent == 3
    assert s.reasons == ("prediction a: conflict: id 'a' is already stored with different content",)
    if contract == "new":  # today's server says "matched" too, but only without conflicts
        assert s.unmatched == 1


def test_an_exception_in_the_sender_is_reported_and_sending_goes_on(
    stub: Stub, monkeypatch, caplog
) -> None:
    real = Transport.post
    calls = []

    def post_failing_once(self: Transport, *args: Any, **kwargs: Any) -> tuple[int, str]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Transport, "post", post_failing_once)
    client = Client(stub.url, **FAST)
    client.log_prediction("m", id="lost", label=1)
    assert client.flush(10)
    for i in range(10):
        client.log_prediction("m", **_good(i))
    started = time.monotonic()
    stats = client.close(timeout=5)
    assert time.monotonic() - started < 5
    assert (stats.accepted, stats.failed, stats.errors) == (10, 1, 1)
    assert stats.reasons == (
        "prediction lost: failed: error in the sender thread: RuntimeError('injected')",
    )
    assert [str(e) for e in client.errors] == ["injected"]
    assert "error in the client's sender thread" in caplog.text


def test_a_json_encoder_failing_once_loses_no_event(stub: Stub, monkeypatch) -> None:
    failures = [RuntimeError("encoder broke")]

    def dumps(obj: Any, **kwargs: Any) -> str:
        if failures:
            raise failures.pop()
        return json.dumps(obj, **kwargs)

    class FlakyJson:
        pass

    flaky = FlakyJson()
    flaky.dumps = dumps  # type: ignore[attr-defined]
    monkeypatch.setattr(client_module, "json", flaky)
    with Client(stub.url, **FAST) as client:
        for i in range(20):
            client.log_prediction("m", **_good(i))
    assert client.stats.accepted == 20 and not failures


def test_close_returns_within_its_timeout_when_the_server_is_down() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", retries=6, backoff=0.2, flush_interval=0.05)
    for i in range(300):
        client.log_prediction("m", **_good(i))
    started = time.monotonic()
    stats = client.close(timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert stats.undelivered > 0 and stats.accepted == 0
    assert stats.undelivered + stats.failed == 300 and stats.pending == 0
    _all_counted(client, 300)


def test_close_returns_within_its_timeout_when_the_server_never_answers(stub: Stub) -> None:
    stub.gate = threading.Event()  # never set during the test
    client = Client(stub.url, close_timeout=1.0, **FAST)
    for i in range(50):
        client.log_prediction("m", **_good(i))
    started = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        with client:
            1 / 0  # noqa: B018 - leaving the block by an exception closes the client too
    assert time.monotonic() - started < client.close_timeout + 1.0
    client_stats = client.stats
    assert client_stats.undelivered == 50 and client_stats.accepted == 0
    assert client_stats.reasons[-1] == "50 events still unsent when close() timed out after 1 s"


def test_a_server_down_through_the_retries_counts_events_as_failed(caplog) -> None:
    with Client(
        f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01, flush_interval=0.05
    ) as client:
        for i in range(5):
            client.log_prediction("m", **_good(i))
        assert client.flush(10)
    s = client.stats
    assert s.failed == 5 and s.undelivered == 0
    assert "unreachable" in s.reasons[-1] and "after 1 retries" in s.reasons[-1]
    assert "not stored" in caplog.text


def test_5xx_answers_are_retried(stub: Stub) -> None:
    stub.fail_first = 2
    with Client(stub.url, **FAST) as client:
        client.log_prediction("m", label=1)
    assert client.stats.accepted == 1 and client.stats.failed == 0


def test_an_unauthorised_request_counts_its_events_as_failed_not_rejected(stub: Stub) -> None:
    stub.status = 401
    with Client(stub.url, **FAST) as client:
        client.log_prediction("m", label=1)
    assert client.stats.failed == 1 and client.stats.rejected == 0
    assert client.stats.reasons[0].endswith("failed: 401: missing bearer token")


def test_a_batch_too_large_for_the_server_is_split(stub: Stub) -> None:
    stub.max_events = 30
    events = [_good(i) for i in range(100)]
    with Client(stub.url, batch_size=100, **FAST) as client:
        _one_batch(stub, client, events)
    assert client.stats.accepted == 101 and client.stats.rejected == 0
    assert ("/v1/predictions", 100) in stub.batches  # answered 413, then sent in parts


def test_a_full_queue_raises_and_counts_the_event_dropped(stub: Stub) -> None:
    stub.gate = threading.Event()
    with Client(stub.url, max_queue=1, block_seconds=0.05, close_timeout=2, **FAST) as client:
        with pytest.raises(
            QueueFullError, match=r"^1 events are waiting to be sent to http://127\.0\.0\.1"
        ):
            for i in range(10):
                client.log_prediction("m", **_good(i))
        stub.gate.set()
    s = client.stats
    assert s.dropped == 1
    _all_counted(client, i + 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"label": {"a": 1}}, EventTypeError, r"^label: \{'a': 1\} \(dict\) is not a label"),
        ({"label": np.array([0, 1])}, EventValueError, r"^label: .* holds 2 values, not one label"),
        (
            {"label": 1, "score": np.nan},
            EventValueError,
            r"^score: nan \(float\) is not a finite number",
        ),
        ({"label": 1, "score": "high"}, EventTypeError, r"^score: 'high' \(str\) is not a number"),
        (
            {"label": 1, "features": {"x": object()}},
            EventTypeError,
            r"^features\.x: <object .* has no JSON form",
        ),
        (
            {"label": 1, "ts": 3 + 4j},
            EventTypeError,
            r"^ts: \(3\+4j\) \(complex\) is not a timestamp",
        ),
    ],
)
def test_a_value_that_cannot_be_sent_raises_at_the_call_and_is_counted(
    stub: Stub, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with Client(stub.url, **FAST) as client:
        with pytest.raises(error, match=message) as raised:
            client.log_prediction("m", **kwargs)
        assert isinstance(raised.value, InvalidEventError) and isinstance(
            raised.value, LiveevalError
        )
        client.log_prediction("m", label=1)
    s = client.stats
    assert (s.rejected, s.accepted) == (1, 1)
    assert "refused at the call" in s.reasons[0]


def test_an_outcome_without_label_or_value_raises_at_the_call(stub: Stub) -> None:
    with Client(stub.url, **FAST) as client:
        with pytest.raises(
            EventValueError, match=r"^label: an outcome needs a 'label' or a 'value'"
        ):
            client.log_outcome("p1", label=pd.NA)
    assert client.stats.rejected == 1


def test_track_never_breaks_the_prediction(stub: Stub, caplog) -> None:
    with Client(stub.url, **FAST) as client:

        @client.track("m")
        def predict(x: float) -> dict[str, Any]:
            return {"label": [x, x]}

        @client.track("m")
        async def failing(x: float) -> dict[str, Any]:
            raise KeyError(x)

        assert predict(1.0) == {"label": [1.0, 1.0], "prediction_id": None}
        import asyncio

        with pytest.raises(KeyError):
            asyncio.run(failing(2.0))
    s = client.stats
    assert (s.rejected, s.accepted) == (1, 1)
    [stored] = stub.predictions.values()
    assert stored["status"] == "error" and stored["error_type"] == "KeyError"
    assert "a call of predict was not logged" in caplog.text


def test_logging_on_a_closed_client_raises(stub: Stub) -> None:
    client = Client(stub.url, **FAST)
    client.close()
    with pytest.raises(ClientClosedError, match="is closed; create a new one"):
        client.log_prediction("m", label=1)
    assert client.close() == client.stats  # closing twice is harmless


def test_every_event_logged_is_counted_once_whatever_happens(stub: Stub) -> None:
    stub.contract = "old"
    stub.fail_first = 1
    rng = np.random.default_rng(4)
    with Client(stub.url, batch_size=37, **FAST) as client:
        for i in range(400):
            event = _good(i)
            if rng.random() < 0.05:
                event["score"] = 3.0
            if rng.random() < 0.05:
                event["id"] = "p0"  # a duplicate or a conflict
            client.log_prediction("m", **event)
    _all_counted(client, 400)
    assert client.stats.pending == 0 and client.stats.failed == 0


def test_a_client_never_closed_delivers_its_events_at_interpreter_exit(stub: Stub) -> None:
    script = (
        "from liveeval.client import Client\n"
        f"client = Client({stub.url!r}, flush_interval=0.05)\n"
        "for i in range(50):\n"
        "    client.log_prediction('m', id=f'x{i}', label=1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert sorted(stub.predictions) == sorted(f"x{i}" for i in range(50))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, r"^batch_size 0 is not a positive integer$"),
        (
            {"batch_size": 20_000},
            r"^batch_size 20000 is over 10,000, the most events the server takes",
        ),
        ({"max_queue": -1}, r"^max_queue -1 is not a positive integer$"),
    ],
)
def test_a_client_with_impossible_settings_is_an_error(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Client("http://127.0.0.1:8000", **kwargs)


def test_a_url_that_is_not_http_is_an_error() -> None:
    with pytest.raises(
        ValidationError, match=r"^url 'localhost:8000' is not an http:// or https:// address$"
    ):
        Client("localhost:8000")


def test_importing_the_client_leaves_numpy_and_pyarrow_alone():
    import subprocess
    import sys

    code = "import sys, liveeval.client; print('numpy' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
