"""/docs works offline: Swagger UI's assets come from this server, not a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from liveeval.api import create_app
from liveeval.api.docs import mount_offline_docs
from liveeval.config import ServerConfig


def referenced(html: str) -> list[str]:
    """Every URL the page loads: src/href attributes and the spec's url."""
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    urls += re.findall(r"url: '([^']+)'", html)
    return urls


def check_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    urls = referenced(page.text)
    assert len(urls) == 4, urls  # stylesheet, icon, script, OpenAPI spec
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.content, url
    # Swagger UI 5 reads OpenAPI 3.1, which FastAPI writes; the validator badge (an
    # image from validator.swagger.io) is off.
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert '"validatorUrl": null' in page.text


def test_offline_docs_reference_only_local_assets_that_answer():
    app = FastAPI(docs_url=None, redoc_url=None)
    mount_offline_docs(app)
    with TestClient(app) as client:
        check_offline(client)
        script = client.get("/docs-assets/swagger-ui-bundle.js")
        assert script.headers["content-type"].startswith(
            ("text/javascript", "application/javascript")
        )
        assert (
            client.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
        )
        # Only the page's assets: not the bundle's demo page, which loads a public spec.
        assert client.get("/docs-assets/index.html").status_code == 404
        assert client.get("/docs-assets/..%2F__init__.py").status_code == 404


def test_offline_docs_need_fastapis_own_page_off():
    with pytest.raises(ValueError, match="docs_url=None"):
        mount_offline_docs(FastAPI())


def test_the_liveeval_server_serves_offline_docs(tmp_path):
    app = create_app(ServerConfig(store=str(tmp_path / "s.duckdb")))
    with TestClient(app) as client:
        check_offline(client)
        assert client.get("/redoc").status_code == 404  # ReDoc loads from a CDN: not served
