"""Bearer tokens: one for writes, one for admin, optionally one for reads.

Tokens come from the environment (``LIVEEVAL_WRITE_TOKEN``, ``LIVEEVAL_ADMIN_TOKEN``,
``LIVEEVAL_READ_TOKEN``) or the config file, and are compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from ..config import Tokens

__all__ = ["Guard"]


class Guard:
    """Checks a request's bearer token against the configured :class:`Tokens`."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    # The checks are async so that FastAPI calls them inline: a plain ``def``
    # dependency is sent to a worker thread on every request.
    def _check(self, header: str, allowed: list[str | None], what: str) -> None:
        accepted = [t for t in allowed if t]
        if not accepted:
            return
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(401, f"{what} needs 'Authorization: Bearer <token>'")
        if not any(hmac.compare_digest(given.encode(), t.encode()) for t in accepted):
            raise HTTPException(403, f"the token is not allowed to {what}")

    def check_write(self, header: str) -> None:
        """Raise 401/403 unless ``header`` (the Authorization value) may write."""
        t = self.tokens
        if t.write or t.admin:
            self._check(header, [t.write, t.admin], "write events")

    async def require_write(self, request: Request) -> None:
        self.check_write(request.headers.get("authorization", ""))

    async def require_read(self, request: Request) -> None:
        t = self.tokens
        if t.read:
            self._check(
                request.headers.get("authorization", ""),
                [t.read, t.write, t.admin],
                "read metrics",
            )

    async def require_admin(self, request: Request) -> None:
        if self.tokens.admin:
            self._check(
                request.headers.get("authorization", ""),
                [self.tokens.admin],
                "administer the server",
            )
