"""Routes serving the dashboard's page shells and assets.

A page is one HTML shell naming its script; the script reads the query string (the
page's whole state, so a URL can be shared) and the JSON API. Extra links (e.g. the
demo's batch report) come from ``app.state.dashboard_links``: a list of
``(label, href)``.
"""

from __future__ import annotations

import hashlib
from html import escape
from importlib import resources
from string import Template
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from .. import __version__
from ..service._clock import clock_description, now

__all__ = ["ASSETS", "DIGEST", "PAGES", "pages_router"]

_STATIC = resources.files(__package__).joinpath("static")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Every asset is known at import: a request can only name one of these.
ASSETS: dict[str, bytes] = {
    entry.name: entry.read_bytes()
    for entry in _STATIC.iterdir()
    if entry.name.endswith(tuple(_TYPES))
}
# The assets' URLs carry this digest (``?v=…``), so a browser may keep them for a year:
# a new package changes the digest and so the URL.
DIGEST = hashlib.sha256(b"".join(ASSETS[name] for name in sorted(ASSETS))).hexdigest()[:12]
PAGES = {
    "overview": "Overview",
    "model": "Model",
    "threshold": "Threshold explorer",
    "alerts": "Alerts",
}
# Pages drawing time-series charts load the charting library (uPlot, copied from its
# npm package into static/ at build time by scripts/build_assets.py) and charts.js.
_CHARTS = {"model"}
_SHELL = Template(_STATIC.joinpath("page.html").read_text(encoding="utf-8"))
# The shells hold no data; the assets change only with the package.
_SECURITY = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _page(request: Request, page: str, title: str) -> HTMLResponse:
    links: list[tuple[str, str]] = list(getattr(request.app.state, "dashboard_links", []))
    extra = "".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in links)
    head = scripts = ""
    if page in _CHARTS:
        head = f'<link rel="stylesheet" href="/dashboard/static/uplot.min.css?v={DIGEST}">\n'
        scripts = "".join(
            f'<script src="/dashboard/static/{name}?v={DIGEST}"></script>\n'
            for name in ("uplot.min.js", "charts.js")
        )
    current = ' aria-current="page"'
    html = _SHELL.substitute(
        title=escape(title),
        page=page,
        version=escape(__version__),
        links=extra,
        digest=DIGEST,
        head=head,
        scripts=scripts,
        current_overview=current if page == "overview" else "",
        current_alerts=current if page == "alerts" else "",
        # The server's clock as GET /healthz gives it: the first render's ranges end
        # there without a round trip first (the shell is never cached).
        now=escape(now().isoformat()),
        clock=escape(clock_description()),
    )
    return HTMLResponse(html, headers={**_SECURITY, "cache-control": "no-cache"})


def pages_router() -> APIRouter:
    """``/`` (overview), ``/models/{name}``, ``/models/{name}/threshold``, ``/alerts``
    and ``/dashboard/static/{asset}``; none of them in the OpenAPI spec."""
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> HTMLResponse:
        return _page(request, "overview", "liveeval · models")

    @router.get("/models/{model}", response_class=HTMLResponse)
    async def model_page(request: Request, model: str) -> HTMLResponse:
        return _page(request, "model", f"liveeval · {model[:200]}")

    @router.get("/models/{model}/threshold", response_class=HTMLResponse)
    async def threshold_page(request: Request, model: str) -> HTMLResponse:
        return _page(request, "threshold", f"liveeval · {model[:200]} · threshold")

    @router.get("/alerts", response_class=HTMLResponse)
    async def alerts_page(request: Request) -> HTMLResponse:
        return _page(request, "alerts", "liveeval · alerts")

    @router.get("/dashboard/static/{asset}")
    async def asset(asset: str, v: str | None = None) -> Response:
        body = ASSETS.get(asset)
        if body is None:
            raise HTTPException(404, f"no dashboard asset {asset[:100]!r}")
        suffix = asset[asset.rfind(".") :]
        # The page names the assets with this package's digest: that URL never changes
        # content. Any other (no digest, an old one) is revalidated after five minutes.
        cache = "public, max-age=31536000, immutable" if v == DIGEST else "public, max-age=300"
        headers: dict[str, Any] = {"cache-control": cache, **_SECURITY}
        return Response(body, media_type=_TYPES[suffix], headers=headers)

    return router
