"""The grounding model through HTTP: reranked /search, and /ask's span correction with exact citations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.app.conftest import upload

LIGHTHOUSE = b"The Zorblat lighthouse on Kelvin Island was built in 1887 by the engineer Marta Quill."
OTHER = [
    b"Kelvin Island has a population of 312 and a ferry that calls twice a week in summer.",
    b"The island's museum shows paintings of storms and shipwrecks from the nineteenth century.",
]


def test_search_reranks_and_reports_the_score(client: TestClient) -> None:
    assert (
        upload(client, ("lighthouse.txt", LIGHTHOUSE), ("ferry.txt", OTHER[0]), ("museum.txt", OTHER[1])).status_code
        == 200
    )
    body = client.post("/search", json={"query": "Who built the Zorblat lighthouse?", "top_k": 3}).json()
    results = body["results"]
    assert results[0]["source"] == "lighthouse.txt"
    scores = [r["rerank_score"] for r in results]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True)
    plain = client.post("/search", json={"query": "Who built the Zorblat lighthouse?", "top_k": 3, "rerank": False})
    assert all(r["rerank_score"] is None for r in plain.json()["results"])


def test_ask_short_gives_the_span_with_an_exact_citation(client: TestClient) -> None:
    assert upload(client, ("lighthouse.txt", LIGHTHOUSE), ("ferry.txt", OTHER[0])).status_code == 200
    body = client.post("/ask", json={"question": "Who built the Zorblat lighthouse?", "detail": "short"}).json()
    assert body["abstained"] is False, body
    assert "Marta Quill" in body["answer"] and len(body["answer"].split()) <= 3, body
    (cite,) = body["citations"]
    text = LIGHTHOUSE.decode()
    assert "Marta Quill" in cite["text"]
    assert cite["text"] == text[cite["start"] : cite["end"]]
    assert cite["source"] == "lighthouse.txt"


def test_ask_normal_never_presents_an_invented_fact_as_supported(client: TestClient) -> None:
    assert upload(client, ("lighthouse.txt", LIGHTHOUSE)).status_code == 200
    body = client.post("/ask", json={"question": "Who built the Zorblat lighthouse?", "detail": "normal"}).json()
    assert not body["abstained"], body
    assert "Marta Quill" in body["answer"]
    for sentence in body["sentences"]:
        words = set(sentence["text"].lower().replace(".", " ").replace(",", " ").split())
        invented = words & {"british", "brother", "scottish", "english", "french", "his"}
        if invented:
            assert not sentence["supported"], body


def test_rerank_off_globally(make_client) -> None:  # type: ignore[no-untyped-def]
    with make_client(rerank=False) as client:
        assert upload(client, ("lighthouse.txt", LIGHTHOUSE)).status_code == 200
        results = client.post("/search", json={"query": "Who built it?"}).json()["results"]
        assert results and all(r["rerank_score"] is None for r in results)
