"""What an outside probe found open (issue 20): readiness contents, overflowing numbers, long questions,
key guessing, headers on static files, collection names, and uploads that cost too much."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from app.errors import RateLimitedError, ServiceBusyError
from app.ingest_slots import IngestSlots
from tests.app.conftest import MakeClient, assert_error, upload

KEYS = "key-a:alpha,key-b:beta"
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


def test_readyz_names_no_tenant_without_a_key(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS) as client:
        assert upload(client, ("a.txt", b"Alpha's launch notes."), key="key-a").status_code == 200
        assert upload(client, ("b.txt", b"Beta's lunch menu."), key="key-b").status_code == 200
        anonymous = client.get("/readyz")
        assert anonymous.status_code == 200
        body = anonymous.json()
        assert set(body) == {"ready", "queue"} and body["ready"] is True
        assert {"depth", "capacity", "saturation"} <= set(body["queue"])
        assert "alpha" not in anonymous.text and "beta" not in anonymous.text

        own = client.get("/readyz", headers=A).json()
        assert own["index"]["tenant"] == "alpha" and own["index"]["documents"] == 1
        assert "beta" not in json.dumps(own) and "tenants" not in own["index"]
        assert own["models"]["loaded"] is True
        assert_error(client.get("/readyz", headers={"Authorization": "Bearer wrong"}), 401)


@pytest.mark.parametrize("offset", ["9223372036854775808", "1e22", "-1", "1000000001"])
def test_overflowing_offsets_get_422(client: TestClient, offset: str) -> None:
    assert_error(client.get("/documents", params={"offset": offset}), 422, "invalid_request")


@pytest.mark.parametrize("limit", ["9223372036854775808", "0", "501"])
def test_out_of_range_limits_get_422(client: TestClient, limit: str) -> None:
    assert_error(client.get("/documents", params={"limit": limit}), 422, "invalid_request")


def test_a_question_of_many_tokens_gets_422(client: TestClient) -> None:
    question = "😀" * 2000  # 2,000 characters: within the character limit, several tokens each
    err = assert_error(client.post("/ask", json={"question": question}), 422, "invalid_request")
    assert "tokens" in err["message"]
    chat = {"messages": [{"role": "user", "content": question}]}
    assert_error(client.post("/v1/chat/completions", json=chat), 422)


def test_wrong_keys_from_one_address_are_limited(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS, auth_failure_limit="5/minute") as client:
        wrong = {"Authorization": "Bearer guess"}
        codes = [client.get("/documents", headers=wrong).status_code for _ in range(7)]
        assert codes == [401] * 5 + [429] * 2
        blocked = client.get("/documents", headers=A)  # even a right key, from this address, until the window moves
        assert_error(blocked, 429, "rate_limited")
        assert int(blocked.headers["retry-after"]) >= 1
        metrics = generate_latest(client.app.state.services.metrics.registry).decode()  # type: ignore[attr-defined]
        assert "rag_auth_failures_total 5.0" in metrics
        assert "rag_auth_blocked_total 3.0" in metrics


def test_missing_keys_are_not_counted_as_guesses(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS, auth_failure_limit="2/minute") as client:
        for _ in range(5):
            assert_error(client.get("/documents"), 401)
        assert client.get("/documents", headers=A).status_code == 200


@pytest.mark.parametrize("path", ["/", "/static/index.html", "/static/app.js", "/static/style.css", "/healthz"])
def test_security_headers_on_every_page_and_static_file(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    policy = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"


def test_security_headers_on_errors_and_docs(client: TestClient) -> None:
    assert "frame-ancestors 'none'" in client.get("/static/missing.js").headers["content-security-policy"]
    docs = client.get("/docs")
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert docs.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", [".", "..", "...", "a/b", " "])
def test_dot_and_path_like_collection_names_get_422(client: TestClient, name: str) -> None:
    assert_error(client.post("/ingest", files=[("files", ("a.txt", b"Some text."))], data={"collection": name}), 422)
    assert_error(client.post("/search", json={"query": "text", "collection": name}), 422)
    assert_error(client.get("/documents", params={"collection": name}), 422)
    assert client.get("/documents").json()["total"] == 0


def test_collection_names_are_nfkc_canonical(client: TestClient) -> None:
    fullwidth = "ｎｏｔｅｓ"  # FULLWIDTH LATIN letters: NFKC makes them "notes"
    doc = upload(client, ("a.txt", b"The harbour opens at six."), collection=fullwidth).json()["documents"][0]
    assert doc["collection"] == "notes"
    again = upload(client, ("a.txt", b"The harbour opens at six."), collection="notes").json()["documents"][0]
    assert again["deduplicated"] is True and again["id"] == doc["id"]
    assert client.get("/documents", params={"collection": fullwidth}).json()["total"] == 1
    hits = client.post("/search", json={"query": "harbour", "collection": fullwidth}).json()["results"]
    assert [h["document_id"] for h in hits] == [doc["id"]]
    assert_error(client.get("/documents", params={"collection": "café"}), 422)  # not ASCII after NFKC


def test_an_upload_over_its_time_budget_gets_413_and_stores_nothing(make_client: MakeClient) -> None:
    with make_client(ingest_timeout_s=0.001) as client:
        err = assert_error(upload(client, ("a.txt", b"a " * 100_000)), 413, "ingest_timeout")
        assert "nothing was stored" in err["message"]
        assert client.get("/documents").json()["total"] == 0
        metrics = generate_latest(client.app.state.services.metrics.registry).decode()  # type: ignore[attr-defined]
        assert 'rag_ingests_stopped_total{reason="timeout"} 1.0' in metrics


def test_an_upload_whose_client_has_gone_stores_nothing(client: TestClient) -> None:
    request = httpx.Request("POST", "http://test/ingest", files=[("files", ("gone.txt", b"Nobody waits for this."))])
    body = request.read()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ingest",
        "raw_path": b"/ingest",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})  # the client leaves right after sending

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    client.portal.call(call)  # type: ignore[union-attr]
    assert sent[0]["status"] == 499
    assert json.loads(sent[1]["body"])["error"]["code"] == "ingest_cancelled"
    assert client.get("/documents").json()["total"] == 0


def test_ingest_slots_per_tenant_and_in_all() -> None:
    slots = IngestSlots(per_tenant=1, total=2, retry_after_s=5)
    try:
        with slots.slot("a"):
            with pytest.raises(RateLimitedError) as per_tenant, slots.slot("a"):
                pass
            assert per_tenant.value.headers["Retry-After"] == "5"
            with slots.slot("b"):
                with pytest.raises(ServiceBusyError) as busy, slots.slot("c"):
                    pass
                assert busy.value.headers["Retry-After"] == "5"
            assert slots.in_use() == 1
        assert slots.in_use() == 0
        with slots.slot("a"):  # freed
            pass
    finally:
        slots.close()


def test_concurrent_uploads_of_one_tenant_get_429(make_client: MakeClient) -> None:
    with make_client(max_ingests_per_tenant=1) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        with services.ingest_slots.slot(services.settings.default_tenant):  # an upload in progress
            resp = upload(client, ("a.txt", b"Second upload."))
            assert_error(resp, 429, "rate_limited")
            assert int(resp.headers["retry-after"]) >= 1
        assert upload(client, ("a.txt", b"Second upload.")).status_code == 200
