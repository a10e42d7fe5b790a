"""Search over HTTP: modes, collections, and results that survive a restart."""

from __future__ import annotations

import pytest

from tests.app.conftest import BACKENDS, MakeClient, assert_error, upload

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

DOCS = [
    ("bees.txt", b"Honey bees communicate the location of flowers with a waggle dance."),
    ("volcano.txt", b"Mount Etna on Sicily is one of the most active volcanoes in Europe."),
    ("chess.txt", b"In chess, castling moves the king two squares towards a rook."),
    ("tea.txt", b"Green tea is made from unoxidised leaves of Camellia sinensis."),
]


def test_each_mode_finds_the_right_document(make_client: MakeClient) -> None:
    with make_client() as client:
        assert upload(client, *DOCS).status_code == 200
        for mode in ("dense", "bm25", "hybrid"):
            resp = client.post("/search", json={"query": "how do bees tell where flowers are", "retrieval_mode": mode})
            results = resp.json()["results"]
            assert results[0]["source"] == "bees.txt", (mode, results)
            r = results[0]
            assert {"document_id", "chunk_id", "text", "score", "page", "start", "end"} <= set(r)
            assert r["end"] - r["start"] == len(r["text"])


def test_collection_filter_returns_k_from_that_collection(make_client: MakeClient) -> None:
    with make_client() as client:
        upload(client, *DOCS[:2], collection="nature")
        upload(client, *DOCS[2:], collection="leisure")
        # Every word matches somewhere, and the nature documents match best: the filter must still
        # return k results, all from the leisure collection.
        for mode in ("dense", "bm25", "hybrid"):
            results = client.post(
                "/search",
                json={
                    "query": "honey bees volcano Etna king leaves",
                    "top_k": 2,
                    "collection": "leisure",
                    "retrieval_mode": mode,
                },
            ).json()["results"]
            assert len(results) == 2, mode
            assert {r["source"] for r in results} == {"chess.txt", "tea.txt"}


def test_restart_gives_the_same_results(make_client: MakeClient) -> None:
    queries = ["active volcano in Europe", "castling in chess", "what is green tea made from"]
    with make_client() as client:
        upload(client, *DOCS)
        before = [client.post("/search", json={"query": q}).json() for q in queries]
    with make_client() as client:
        after = [client.post("/search", json={"query": q}).json() for q in queries]
        assert client.get("/documents").json()["total"] == len(DOCS)
    assert after == before


def test_undecodable_body_gets_the_json_error_shape(make_client: MakeClient) -> None:
    with make_client() as client:
        for body in (b"\xff\xfe\x00{", b'{"query": '):
            resp = client.post("/search", content=body, headers={"Content-Type": "application/json"})
            assert_error(resp, 422, "invalid_request")
