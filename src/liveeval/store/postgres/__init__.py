"""The PostgreSQL engine: several server replicas share one database.

Needs the ``postgres`` extra (psycopg 3). See docs/postgresql.md.
"""

from __future__ import annotations

from .location import is_postgres, masked

__all__ = ["PostgresEngine", "is_postgres", "masked"]


def __getattr__(name: str) -> object:
    # The engine imports psycopg: only when a postgresql:// store is opened.
    if name == "PostgresEngine":
        from .engine import PostgresEngine

        return PostgresEngine
    raise AttributeError(name)
