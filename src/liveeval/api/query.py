"""Unknown query parameters are refused on the /v1 routes.

Bodies refuse unknown fields (``extra="forbid"``); a query string had no such rule, so
a typo (``?sise=1h``, ``?sinse=2026-11-01``) was ignored and the answer silently read
everything with the defaults. :func:`known_query` is an application-wide dependency:
it compares the request's parameter names with the ones the matched route declares
(its own and its dependencies', as FastAPI resolves them) and answers 422 naming the
unknown one, the closest accepted one and the whole list. A parameter that takes one
value given twice (``?since=…&since=…``: the last one silently won) is a 422 naming it
and its values; list parameters (``metrics``, ``by``, ``features``) repeat as before.
:func:`time_range` refuses a range whose ``since`` is not before its ``until``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from datetime import datetime

from fastapi import HTTPException, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from ..service.events import NAME_PATTERN, naive_utc

__all__ = [
    "SegmentQuery",
    "VersionQuery",
    "accepted_query",
    "known_query",
    "name_query_detail",
    "repeated_query_detail",
    "single_valued",
    "time_range",
    "unknown_query_detail",
]

# Only the JSON API: the dashboard's pages keep their own state in the query string
# (range, refresh, version, ...) and read it in the browser.
PREFIX = "/v1/"
# An unknown name is echoed up to this many characters.
_SHOWN = 60


def accepted_query(route: APIRoute) -> tuple[str, ...]:
    """The query parameter names ``route`` declares (its own and its dependencies'),
    sorted."""
    return tuple(sorted(_declared(route)))


def single_valued(route: APIRoute) -> frozenset[str]:
    """The query parameters of ``route`` that take one value (not a list such as
    ``metrics``, ``by`` or ``features``)."""
    return frozenset(name for name, many in _declared(route).items() if not many)


def _declared(route: APIRoute) -> dict[str, bool]:
    """Each declared query parameter, and whether it takes a list."""
    names: dict[str, bool] = {}
    todo: list[Dependant] = [route.dependant]
    while todo:
        dependant = todo.pop()
        for param in dependant.query_params:
            names[param.alias] = _is_list(param.field_info.annotation)
        todo.extend(dependant.dependencies)
    return names


def _is_list(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset)


def repeated_query_detail(pairs: list[tuple[str, str]], single: frozenset[str]) -> str | None:
    """The 422 detail for the first single-valued parameter given more than once (None
    when there is none)."""
    seen: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in single:
            seen.setdefault(name, []).append(value)
    for name, values in seen.items():
        if len(values) > 1:
            shown = ", ".join(_shown(v) for v in values[:5])
            more = f", … ({len(values)} in all)" if len(values) > 5 else ""
            return (
                f"query parameter {name!r} given {len(values)} times ({shown}{more}); give it once"
            )
    return None


# The same rules in the OpenAPI spec, so a client (and schemathesis) knows them.
VersionQuery = typing.Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_.\-]{1,100}$",
        description="a version as predictions name it: 1 to 100 letters, digits, '.', '_' or '-'",
    ),
]
SegmentQuery = typing.Annotated[
    str | None, Query(max_length=200, description="a segment, at most 200 characters")
]


# Names that are stored as written by a pattern at write time (service/events.py): a
# value outside it can name nothing. (name, longest, pattern, the accepted form)
_NAMES: dict[str, tuple[int, re.Pattern[str] | None, str]] = {
    "version": (
        100,
        re.compile(NAME_PATTERN),
        "a version is 1 to 100 letters, digits, '.', '_' or '-', as predictions name it",
    ),
    "segment": (200, None, "a segment is at most 200 characters, as predictions name it"),
}


def name_query_detail(pairs: list[tuple[str, str]]) -> str | None:
    """The 422 detail for a ``version`` (or ``segment``) that no prediction can carry
    (None when each can)."""
    for name, value in pairs:
        rule = _NAMES.get(name)
        if rule is None:
            continue
        longest, pattern, form = rule
        if len(value) > longest or (pattern is not None and not pattern.fullmatch(value)):
            return f"query parameter {name!r} is {_shown(value)}: {form}"
    return None


def _shown(value: str) -> str:
    return (
        repr(value) if len(value) <= _SHOWN else f"{value[:_SHOWN]!r}… ({len(value):,} characters)"
    )


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
    cache: dict[int, tuple[tuple[str, ...], frozenset[str]]] = request.app.__dict__.setdefault(
        "_liveeval_query", {}
    )
    known = cache.get(id(route))
    if known is None:
        known = cache[id(route)] = (accepted_query(route), single_valued(route))
    accepted, single = known
    detail = unknown_query_detail(names, accepted, request.method, route.path)
    pairs = request.query_params.multi_items()
    if detail is None and len(pairs) > len(names):  # a name given more than once
        detail = repeated_query_detail(pairs, single)
    if detail is None:
        detail = name_query_detail(pairs)
    if detail is not None:
        raise HTTPException(422, detail)


def time_range(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` as naive UTC, ``since`` before ``until`` when both are given.

    A reversed or empty range is a user error: read as given, a window size that
    floors ``since`` and ceils ``until`` turned it into a whole window of data.

    Raises
    ------
    HTTPException
        422 for a time without a usable offset, or naming both when ``since`` is not
        before ``until``.
    """
    out: list[datetime | None] = []
    for name, value in (("since", since), ("until", until)):
        try:
            out.append(None if value is None else naive_utc(value))
        except ValueError as exc:
            raise HTTPException(422, f"'{name}' {exc}") from None
    start, end = out
    if start is not None and end is not None and start >= end:
        how = "equals" if start == end else "is after"
        raise HTTPException(
            422,
            f"since {start.isoformat()} {how} until {end.isoformat()}: the range is empty; "
            "give since before until",
        )
    return start, end
