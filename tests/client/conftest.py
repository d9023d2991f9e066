"""A tiny HTTP server on 127.0.0.1 that answers the client per either contract, so
these tests do not depend on the real server's progress; and the real server
process, for the tests that use it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import ServerProcess, free_port, server

__all__ = ["ServerProcess", "Stub", "free_port", "server", "stub"]


def _problem(kind: str, event: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when the stub's validation refuses an event."""
    if kind == "predictions":
        score = event.get("score")
        if score is not None and not 0.0 <= score <= 1.0:
            return "score", "Input should be less than or equal to 1"
        if event.get("status", "ok") == "ok" and "label" not in event:
            return (
                "",
                "Value error, a successful prediction (status 'ok') needs its predicted 'label'",
            )
        if "label" in event and not isinstance(event["label"], int | str | bool):
            return "label", "Input should be a valid integer"
    elif "label" not in event and "value" not in event:
        return "", "Value error, an outcome needs a 'label' or a 'value'"
    return None


@dataclass
class Stub:
    """What the stub answers and what it received.

    ``contract`` is ``"new"`` (per-event results; 422 with results when every event
    is rejected), ``"old"`` (422 with FastAPI's field errors when any event is
    invalid, 409 with results on a conflict) or ``"refuse"`` (422 naming no event).
    """

    url: str = ""
    contract: str = "new"
    fail_first: int = 0  # answer 503 to this many requests first
    status: int | None = None  # answer every request with this status instead
    max_events: int | None = None  # 413 for larger batches
    gate: threading.Event | None = None  # requests wait for it before being answered
    # Called with (path, body) as a request arrives, outside the lock (to hold it).
    hook: Callable[[str, bytes], None] | None = None
    dead: bool = False  # requests are dropped without an answer, as by a server that died
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    batches: list[tuple[str, int]] = field(default_factory=list)  # (path, events)
    arrived: int = 0  # requests received, answered or not
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.arrived += 1
        if self.hook is not None:
            self.hook(path, body)
        if self.gate is not None:
            self.gate.wait()
        with self.lock:
            if self.dead:
                return 0, {}
            if self.fail_first:
                self.fail_first -= 1
                return 503, {"detail": "store behind"}
            if self.status is not None:
                return self.status, {"detail": "missing bearer token"}
            if path == "/v1/predictions/arrow":
                return self._table(body)
            kind = path.rsplit("/", 1)[-1]
            events = json.loads(body)[kind]
            self.batches.append((path, len(events)))
            if self.max_events is not None and len(events) > self.max_events:
                return 413, {"detail": f"a batch holds at most {self.max_events} events"}
            if self.contract == "refuse":
                return 422, {"detail": "send the request body as application/json"}
            problems = [_problem(kind, e) for e in events]
            if self.contract == "old" and any(problems):
                return 422, {"detail": self._field_errors(kind, problems)}
            results = [
                self._store(kind, i, e, p)
                for i, (e, p) in enumerate(zip(events, problems, strict=True))
            ]
            if self.contract == "new":
                taken = any(r["status"] != "rejected" for r in results)
                return (200 if taken else 422), {"results": results}
            for r in results:
                del r["index"]
            conflict = any(r["status"] == "conflict" for r in results)
            return (409 if conflict else 200), {"results": results}

    def _field_errors(
        self, kind: str, problems: list[tuple[str, str] | None]
    ) -> list[dict[str, Any]]:
        batch = "PredictionBatch" if kind == "predictions" else "OutcomeBatch"
        errors: list[dict[str, Any]] = [
            # The union's other branch, as FastAPI reports it: names no event.
            {
                "loc": ["body", "function-after[_consistent(), PredictionIn]", "model"],
                "msg": "Field required",
            }
        ]
        for i, problem in enumerate(problems):
            if problem is not None:
                name, msg = problem
                loc: list[Any] = ["body", batch, kind, i, *([name] if name else [])]
                errors.append({"loc": loc, "msg": msg, "type": "value_error"})
                if name == "label":  # a union gives one error per branch
                    errors.append({"loc": [*loc, "str"], "msg": "Input should be a valid string"})
        return errors

    def _store(
        self, kind: str, index: int, event: dict[str, Any], problem: tuple[str, str] | None
    ) -> dict[str, Any]:
        key = event.get("id") or event.get("prediction_id")
        result: dict[str, Any] = {"index": index, "id": key, "detail": None, "matched": None}
        if problem is not None:
            name, msg = problem
            return {**result, "status": "rejected", "detail": f"{name}: {msg}" if name else msg}
        if kind == "outcomes":
            self.outcomes.append(event)
            return {**result, "status": "stored", "matched": key in self.predictions}
        known = self.predictions.get(key)
        if known is None:
            self.predictions[key] = event
            return {**result, "status": "stored"}
        if known == event:
            return {**result, "status": "duplicate"}
        return {
            **result,
            "status": "conflict",
            "detail": f"id {key!r} is already stored with different content",
        }

    def _table(self, body: bytes) -> tuple[int, dict[str, Any]]:
        import pyarrow as pa

        table = pa.ipc.open_stream(body).read_all()
        self.batches.append(("/v1/predictions/arrow", table.num_rows))
        if self.contract != "new":
            if table.column("score").null_count:
                return 422, {"detail": "Arrow batch column 'score' has missing values"}
            return 200, {"stored": table.num_rows, "duplicates": [], "conflicts": []}
        rows = table.to_pylist()
        rejections = [
            {
                "index": i,
                "id": r["id"],
                "detail": f"score: {r['score']} is not a probability in [0, 1]",
            }
            for i, r in enumerate(rows)
            if r.get("score") is not None and not 0.0 <= r["score"] <= 1.0
        ]
        bad = {r["index"] for r in rejections}
        for i, r in enumerate(rows):
            if i not in bad:
                self.predictions[r["id"]] = r
        body_out = {
            "stored": len(rows) - len(bad),
            "duplicates": [],
            "conflicts": [],
            "rejected": len(bad),
            "rejections": rejections,
        }
        return (422 if rows and len(bad) == len(rows) else 200), body_out


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            code, answer = state.answer(self.path, body)
            if code == 0:
                self.close_connection = True
                return
            raw = json.dumps(answer).encode()
            try:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:
                pass  # the client gave up waiting (a test of close()'s timeout)

        def log_message(self, *_: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    http.daemon_threads = True
    state.url = f"http://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.gate is not None:
            state.gate.set()
        http.shutdown()
        http.server_close()
        thread.join(10)
