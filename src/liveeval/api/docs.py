"""``/docs`` without a CDN: Swagger UI's script, stylesheet and icon are served from
the ``swagger-ui-bundle-v2`` package, so the API page works on a machine with no
internet access (FastAPI's default page loads them from a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

__all__ = ["ASSETS_PATH", "DOCS_PATH", "mount_offline_docs"]

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs-assets"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def mount_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` with its assets from this server.

    The app must be created with ``docs_url=None`` (and ``redoc_url=None``: ReDoc is
    not bundled), so that FastAPI's CDN-backed page does not take the path first.
    """
    if app.docs_url is not None:
        raise ValueError("create the app with docs_url=None before mounting the offline docs")
    if app.openapi_url is None:
        raise ValueError("the app serves no OpenAPI spec (openapi_url=None) to document")
    openapi_url = app.openapi_url

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def swagger_ui_asset(name: str) -> FileResponse:
        # Only the page's own assets: not the bundle's demo index.html (which points
        # at a public example spec) or source maps.
        if name not in _ASSETS:
            raise HTTPException(404, f"no docs asset {name!r}")
        return FileResponse(
            Path(str(swagger_ui_path)) / name,
            media_type=_ASSETS[name],
            headers={"cache-control": "public, max-age=86400"},
        )

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            # Swagger UI's validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
