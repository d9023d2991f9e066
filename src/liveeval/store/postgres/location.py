"""PostgreSQL locations: recognised, masked for messages, connected with errors mapped.

A location is a libpq URL (``postgresql://user@host:port/db``). Credentials come from
where libpq looks for them: ``PGPASSWORD``, the password file (``PGPASSFILE``, the
``passfile`` URL parameter, or ``~/.pgpass``), or a service file. A password written
in the URL itself works too, but every message liveeval prints shows the location
through :func:`masked`, which replaces it (and any ``password`` parameter) by ``***``.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import StoreError, StoreUnavailable

__all__ = ["connect", "is_postgres", "masked", "unavailable"]

_SCHEMES = ("postgresql://", "postgres://")
# user:password@ in the authority, and password=... among the query parameters.
_USERINFO = re.compile(r"^(?P<scheme>postgres(?:ql)?://)(?P<user>[^:@/]*):(?P<secret>[^@/]*)@")
_PARAM = re.compile(r"(?P<key>[?&]password=)(?P<secret>[^&]*)", re.IGNORECASE)
# password=... in a keyword/value connection string (at the start or after a space).
_KEYWORD = re.compile(
    r"(?P<key>(?:^|(?<=\s))password\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|\S+)", re.I
)


def is_postgres(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL database (a ``postgresql://`` URL)."""
    return isinstance(location, str) and location.lower().startswith(_SCHEMES)


def masked(text: str) -> str:
    """``text`` with every password of a PostgreSQL location in it replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _PARAM.sub(lambda m: f"{m['key']}***", text)
    return _KEYWORD.sub(lambda m: f"{m['key']}***", text)


def unavailable(location: str, exc: BaseException) -> StoreUnavailable:
    """The error a request gets when the database cannot be reached (HTTP 503)."""
    reason = masked(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
    return StoreUnavailable(
        f"the PostgreSQL store {masked(location)} is unavailable ({reason}); nothing was "
        "acknowledged by this answer, retry later"
    )


def connect(location: str, **kwargs: Any) -> Any:
    """A psycopg connection to ``location``.

    Raises
    ------
    StoreError
        when psycopg is not installed (the ``postgres`` extra).
    StoreUnavailable
        when the server cannot be reached or refuses the credentials.
    """
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise StoreError(
            "a postgresql:// store needs psycopg: pip install 'liveeval[postgres]'"
        ) from None
    try:
        return psycopg.connect(location, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        raise unavailable(location, exc) from None
