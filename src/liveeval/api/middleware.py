"""ASGI middleware: body-size limit and request counting.

Written against the raw ASGI interface rather than Starlette's ``BaseHTTPMiddleware``,
which wraps every request in extra tasks and streams and cost a measurable share of
a small request's time.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import fastpath
from .arrival import arrival

if TYPE_CHECKING:
    from ..config import ServerConfig
    from ..service import Service
    from .auth import Guard
    from .prometheus import Telemetry

__all__ = ["RequestGuard"]

# Reference uploads (PUT /v1/models/{m}/references/{name}) are files: their own limit.
_REFERENCE = re.compile(r"^/v1/models/[^/]+/references/[^/]+/?$")

FORM = b"application/x-www-form-urlencoded"


class RequestGuard:
    """Refuses bodies over the configured size (413, by Content-Length), serves
    the hot routes by the fast path (:mod:`liveeval.api.fastpath`), and counts every
    answered request by route and status."""

    def __init__(
        self,
        app: ASGIApp,
        service: Service,
        telemetry: Telemetry,
        guard: Guard,
        config: ServerConfig,
    ) -> None:
        self.app = app
        self.service = service
        self.guard = guard
        self.config = config
        self.max_body_bytes = config.max_body_bytes
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The request's arrival: stamped by the server when it read the request, or
        # else this first look at it (see .arrival).
        arrived = time.perf_counter()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await self._too_large(send, value.decode(), limit)
                    return
            elif (
                name == b"content-type"
                and value.split(b";", 1)[0].strip() == FORM
                and scope["method"] == "POST"
            ):
                # ``curl -d '{...}'`` labels its JSON body as a form; every body this API
                # takes other than Arrow is JSON, so read it as what it is.
                scope = dict(scope)
                scope["headers"] = [
                    (n, b"application/json" if n == b"content-type" else v)
                    for n, v in scope["headers"]
                ]
        fast = fastpath.match(scope)
        if fast is not None:
            route, params = fast
            arrived = arrival(scope, arrived)
            status = 500
            try:
                status = await fastpath.serve(
                    self.service,
                    self.guard,
                    self.config,
                    route,
                    params,
                    scope,
                    receive,
                    send,
                    arrived,
                )
            finally:
                self.telemetry.requests.labels(route.path, str(status)).inc()
            return
        status = 500
        if scope["method"] in ("POST", "PUT", "PATCH") and not _has_length(scope):
            # A chunked body has no Content-Length to refuse up front: read it here,
            # up to the limit, and hand the app the buffered body.
            body = await fastpath.read_body(receive, limit)
            if body is None:
                await self._too_large(send, f"more than {limit}", limit)
                return
            receive = _replay(body)

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            declared: Any = scope.get("route")
            path = getattr(declared, "path", "unmatched")
            self.telemetry.requests.labels(path, str(status)).inc()

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "PUT" and _REFERENCE.match(scope["path"]):
            return self.config.max_reference_bytes
        return self.max_body_bytes

    async def _too_large(self, send: Send, length: str, limit: int) -> None:
        which = "max_reference_bytes" if limit != self.max_body_bytes else "max_body_bytes"
        detail = f"request body of {length} bytes exceeds the {limit}-byte limit ([server] {which})"
        await fastpath.send_json(send, 413, {"detail": detail})
        self.telemetry.requests.labels("unmatched", "413").inc()


def _has_length(scope: Scope) -> bool:
    return any(name == b"content-length" for name, _ in scope["headers"])


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
