"""A Prometheus scrape after real traffic shows requests by route and status, generation and ingestion."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.app.conftest import MakeClient, upload

DOC = ("lighthouse.txt", b"The lighthouse on Skerry Point was built in 1874. Its lamp is lit at dusk every evening.")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_scrape_after_traffic(make_client: MakeClient) -> None:
    with make_client() as client:
        assert upload(client, DOC).status_code == 200
        assert client.post("/search", json={"query": "when was the lighthouse built"}).status_code == 200
        asked = client.post("/ask", json={"question": "When was the lighthouse built?", "max_new_tokens": 6})
        assert asked.status_code == 200, asked.text
        assert client.get("/documents/does-not-exist").status_code == 404
        scrape = client.get("/metrics")
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        samples = _samples(scrape.text)

    requests = "rag_http_requests_total"
    assert _value(samples, requests, route="/ingest", method="POST", status="200") == 1
    assert _value(samples, requests, route="/search", method="POST", status="200") == 1
    assert _value(samples, requests, route="/ask", method="POST", status="200") == 1
    assert _value(samples, requests, route="/documents/{document_id}", method="GET", status="404") == 1
    latency = "rag_http_request_seconds_count"
    assert _value(samples, latency, route="/ask", method="POST", status="200") == 1
    assert _value(samples, "rag_http_request_seconds_sum", route="/ask", method="POST", status="200") > 0

    assert _value(samples, "rag_documents_ingested_total") == 1
    assert _value(samples, "rag_chunks_ingested_total") >= 1
    completion = asked.json()["usage"]["completion_tokens"]
    assert completion > 0
    assert _value(samples, "rag_generated_tokens_total") == completion
    assert _value(samples, "rag_generation_batch_size_count") >= 1
    assert ("rag_generation_queue_depth", ()) in samples
    assert _value(samples, "rag_generation_queue_depth") == 0  # nothing in flight after the answer
    assert _value(samples, "rag_generation_tokens_per_second") > 0
