"""ASGI middleware: body-size limit and request counting.

Written against the raw ASGI interface rather than Starlette's ``BaseHTTPMiddleware``,
which wraps every request in extra tasks and streams and cost a measurable share of
a small request's time.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .prometheus import Telemetry

__all__ = ["RequestGuard"]


class RequestGuard:
    """Refuses bodies over ``max_body_bytes`` (413, by Content-Length) and counts every
    answered request by route and status."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, telemetry: Telemetry) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    await self._too_large(send, value.decode())
                    return
                break
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.telemetry.requests.labels(path, str(status)).inc()

    async def _too_large(self, send: Send, length: str) -> None:
        body = json.dumps(
            {
                "detail": f"request body of {length} bytes exceeds the "
                f"{self.max_body_bytes}-byte limit"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.telemetry.requests.labels("unmatched", "413").inc()
