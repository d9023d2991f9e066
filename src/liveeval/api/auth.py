"""Bearer tokens: one for writes, one for admin, optionally one for reads.

Tokens come from the environment (``LIVEEVAL_WRITE_TOKEN``, ``LIVEEVAL_ADMIN_TOKEN``,
``LIVEEVAL_READ_TOKEN``) or the config file, and are compared in constant time.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from fastapi import HTTPException, Request

__all__ = ["Tokens"]


@dataclass(frozen=True)
class Tokens:
    write: str | None = None
    admin: str | None = None
    read: str | None = None

    @classmethod
    def from_env(cls, fallback: Tokens | None = None) -> Tokens:
        base = fallback or cls()
        return cls(
            os.environ.get("LIVEEVAL_WRITE_TOKEN") or base.write,
            os.environ.get("LIVEEVAL_ADMIN_TOKEN") or base.admin,
            os.environ.get("LIVEEVAL_READ_TOKEN") or base.read,
        )

    @property
    def any(self) -> bool:
        return bool(self.write or self.admin or self.read)

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
        if self.write or self.admin:
            self._check(header, [self.write, self.admin], "write events")

    async def require_write(self, request: Request) -> None:
        self.check_write(request.headers.get("authorization", ""))

    async def require_read(self, request: Request) -> None:
        if self.read:
            self._check(
                request.headers.get("authorization", ""),
                [self.read, self.write, self.admin],
                "read metrics",
            )

    async def require_admin(self, request: Request) -> None:
        if self.admin:
            self._check(
                request.headers.get("authorization", ""), [self.admin], "administer the server"
            )
