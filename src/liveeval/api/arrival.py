"""When a request arrived, as close to the socket as the server lets us see.

An ASGI app first sees a request when the server's task for it starts running. Under
load that is a whole event-loop iteration — every answer resolved in it encoded and
written — after the server read the request's bytes, and a client waits through it.
``liveeval serve`` therefore runs uvicorn with :data:`HTTP_PROTOCOL`, which stamps
``scope["extensions"]["liveeval.arrived"]`` (on :func:`time.perf_counter`'s clock)
when it starts parsing the request, in the same callback that read its first bytes.
Under any other server (tests, another ASGI server) the middleware's first look at
the request stands in (:func:`arrival`).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["ARRIVED", "HTTP_PROTOCOL", "arrival"]

ARRIVED = "liveeval.arrived"


def arrival(scope: Any, default: float) -> float:
    """The stamped arrival of the request of ``scope``, or ``default``."""
    extensions = scope.get("extensions")
    if extensions:
        stamped = extensions.get(ARRIVED)
        if stamped is not None:
            return float(stamped)
    return default


def _stamped_protocol() -> Any:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed: uvicorn's own choice, unstamped
        return "auto"

    class StampedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, stamping each request's arrival."""

        def on_message_begin(self) -> None:
            arrived = time.perf_counter()
            super().on_message_begin()
            # ASGI's place for what a server adds to a scope; typed narrower by uvicorn.
            self.scope["extensions"] = {ARRIVED: arrived}  # type: ignore[dict-item]

    return StampedHttpToolsProtocol


# For ``uvicorn.Config(http=...)``: a protocol class, or "auto" without httptools.
HTTP_PROTOCOL: Any = _stamped_protocol()
