"""Unknown query parameters are refused on the /v1 routes.

Bodies refuse unknown fields (``extra="forbid"``); a query string had no such rule, so
a typo (``?sise=1h``, ``?sinse=2026-11-01``) was ignored and the answer silently read
everything with the defaults. :func:`known_query` is an application-wide dependency:
it compares the request's parameter names with the ones the matched route declares
(its own and its dependencies', as FastAPI resolves them) and answers 422 naming the
unknown one, the closest accepted one and the whole list.
"""

from __future__ import annotations

import difflib

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

__all__ = ["accepted_query", "known_query", "unknown_query_detail"]

# Only the JSON API: the dashboard's pages keep their own state in the query string
# (range, refresh, version, ...) and read it in the browser.
PREFIX = "/v1/"
# An unknown name is echoed up to this many characters.
_SHOWN = 60


def accepted_query(route: APIRoute) -> tuple[str, ...]:
    """The query parameter names ``route`` declares (its own and its dependencies'),
    sorted."""
    names: set[str] = set()
    todo: list[Dependant] = [route.dependant]
    while todo:
        dependant = todo.pop()
        names.update(param.alias for param in dependant.query_params)
        todo.extend(dependant.dependencies)
    return tuple(sorted(names))


def unknown_query_detail(
    names: list[str], accepted: tuple[str, ...], method: str, path: str
) -> str | None:
    """The 422 detail for the first of ``names`` that is not ``accepted`` (None when
    every one is)."""
    unknown = [name for name in dict.fromkeys(names) if name not in accepted]
    if not unknown:
        return None
    name = unknown[0]
    close = difflib.get_close_matches(name[:100], accepted, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = (
        f"accepted: {', '.join(accepted)}" if accepted else "this route takes no query parameters"
    )
    others = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    shown = repr(name) if len(name) <= _SHOWN else f"{name[:_SHOWN]!r}… ({len(name):,} characters)"
    return f"unknown query parameter {shown}{others} for {method} {path}{hint} ({listed})"


async def known_query(request: Request) -> None:
    """Refuse a /v1 request whose query string names a parameter its route does not
    declare (422).

    Raises
    ------
    HTTPException
        422 naming the unknown parameter and the accepted ones.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.path.startswith(PREFIX):
        return
    names = list(request.query_params.keys())
    if not names:
        return
    # Per application (its routes live as long as it does), by route.
    cache: dict[int, tuple[str, ...]] = request.app.__dict__.setdefault("_liveeval_query", {})
    accepted = cache.get(id(route))
    if accepted is None:
        accepted = cache[id(route)] = accepted_query(route)
    detail = unknown_query_detail(names, accepted, request.method, route.path)
    if detail is not None:
        raise HTTPException(422, detail)
