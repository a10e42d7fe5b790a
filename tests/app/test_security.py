"""Keys, tenant isolation on every route, rate limits, health and request ids."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import BACKENDS, MakeClient, assert_error, upload

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

KEYS = "key-a:alpha,key-b:beta"
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}
SECRET = ("alpha.txt", b"Project Nightingale launches on the fourth of March from hangar seven.")

PROTECTED = [
    ("get", "/documents", None),
    ("get", "/documents/abc", None),
    ("delete", "/documents/abc", None),
    ("post", "/search", {"query": "x"}),
    ("post", "/ask", {"question": "x"}),
    ("post", "/feedback", {"answer_id": "x", "rating": 1}),
    ("get", "/metrics", None),
]


def test_every_route_but_health_needs_a_key(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert_error(upload(client, SECRET), 401, "unauthorized")
        for method, path, body in PROTECTED:
            resp = client.request(method.upper(), path, json=body)
            assert_error(resp, 401, "unauthorized")
            wrong = client.request(method.upper(), path, json=body, headers={"Authorization": "Bearer nope"})
            assert_error(wrong, 401, "unauthorized")
        assert client.get("/documents", headers=A).status_code == 200


def test_tenants_never_see_each_other(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS) as client:
        doc = upload(client, SECRET, key="key-a").json()["documents"][0]
        # Same bytes for tenant B are a separate document, not a dedup hit on A's.
        assert upload(client, ("mine.txt", b"Beta team notes about lunch."), key="key-b").status_code == 200
        assert_error(client.get(f"/documents/{doc['id']}", headers=B), 404)
        assert_error(client.delete(f"/documents/{doc['id']}", headers=B), 404)
        assert all(d["id"] != doc["id"] for d in client.get("/documents", headers=B).json()["documents"])
        for mode in ("dense", "bm25", "hybrid"):
            hits = client.post(
                "/search",
                json={"query": "Project Nightingale hangar", "retrieval_mode": mode, "top_k": 10},
                headers=B,
            ).json()["results"]
            assert all(h["document_id"] != doc["id"] for h in hits), mode
        answer = client.post(
            "/ask", json={"question": "When does Project Nightingale launch?", "max_new_tokens": 8}, headers=B
        ).json()
        assert all(p["document_id"] != doc["id"] for p in answer["passages"])
        assert "Nightingale" not in " ".join(c["text"] for c in answer["citations"])
        # A's answer ids are not B's to rate.
        a_answer = client.post("/ask", json={"question": "When?", "max_new_tokens": 4}, headers=A).json()
        assert_error(client.post("/feedback", json={"answer_id": a_answer["answer_id"], "rating": 1}, headers=B), 404)
        # A still has everything.
        assert client.get(f"/documents/{doc['id']}", headers=A).status_code == 200


def test_rate_limit_answers_429_with_retry_after(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS, rate_limit="3/minute") as client:
        codes = [client.get("/documents", headers=A).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        resp = client.get("/documents", headers=A)
        assert_error(resp, 429, "rate_limited")
        assert int(resp.headers["retry-after"]) >= 1
        # Limits are per key.
        assert client.get("/documents", headers=B).status_code == 200


def test_request_id_on_every_response(client: TestClient) -> None:
    ok = client.get("/healthz")
    assert len(ok.headers["x-request-id"]) >= 8
    echoed = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    err = client.get("/documents/missing", headers={"X-Request-ID": "trace-456"})
    assert assert_error(err, 404)["request_id"] == "trace-456"


def test_readyz_reports_models_index_and_queue(client: TestClient) -> None:
    body = client.get("/readyz").json()
    assert body["ready"] is True
    assert {"depth", "capacity", "saturation"} <= set(body["queue"])
    assert body["models"]["loaded"] is True
