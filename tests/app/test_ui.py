"""The page's router on its own: what it serves, with which headers, and what it refuses (no browser needed)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.errors import install_error_handlers
from app.middleware.security_headers import SecurityHeadersMiddleware
from app.routes import ui


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(ui.router)
    app.add_middleware(SecurityHeadersMiddleware)
    return TestClient(app)


def test_index_is_the_page_with_a_strict_policy(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert 'data-testid="ask-form"' in resp.text
    policy = resp.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_every_asset_the_page_names_is_served_from_this_origin(client: TestClient) -> None:
    page = client.get("/").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert sorted(assets) == ["/static/app.js", "/static/style.css"]
    types = {"/static/app.js": "text/javascript", "/static/style.css": "text/css"}
    for path in assets:
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith(types[path])
    # No third-party origin anywhere: the page must work without a network.
    for text in (page, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert not re.search(r"https?://", text)


@pytest.mark.parametrize("name", ["missing.js", "..%2Fui.py", "..%2F..%2Fpyproject.toml", "%2Fetc%2Fpasswd"])
def test_only_the_shipped_files_are_served(client: TestClient, name: str) -> None:
    resp = client.get(f"/static/{name}")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_the_page_is_not_part_of_the_api_schema(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["paths"] == {}
