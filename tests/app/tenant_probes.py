"""Cross-tenant probes: tenant B must never see, change or delete anything of tenant A.

Tenant A ingests documents (two collections, each with a unique marker word); tenant B ingests a few of
its own. Then B sends random requests: ``/search`` in every mode with random ``top_k`` and collections
(queries are A's markers, A's exact sentences or ordinary words), ``/ask``, ``GET`` and ``DELETE
/documents/{A's id}``, ``GET /documents`` filtered by A's collections, and ``/feedback`` on A's answer
ids. A leak is any of A's document ids or marker words in a response to B; GET/DELETE of A's ids must be
404 and ``/feedback`` on A's answers 404. Afterwards A still has every document.

Works with any httpx-style client (a FastAPI ``TestClient`` in the tests, an ``httpx.Client`` here):

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.app.tenant_probes --probes 400

(``tests/app/test_tenant_probes.py`` runs 200 probes through a ``TestClient``.)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY_A, KEY_B = "ka", "kb"
API_KEYS = f"{KEY_A}:alpha,{KEY_B}:beta"
COLLECTIONS_A = ("default", "secret-a")
TOPICS = (
    "The observatory on the ridge records meteor showers every August and publishes the counts.",
    "Our payroll runs on the last working day of each month and bonuses are paid in March.",
    "The bridge inspection found corrosion on the north cables, repairs start in spring.",
    "The recipe calls for two cups of flour, one egg and a pinch of salt, baked for twenty minutes.",
    "Clinic opening hours are eight to six on weekdays and nine to noon on Saturdays.",
    "The treaty was signed in Lisbon after four years of negotiation between the members.",
)
PLAIN_QUERIES = ("meteor showers", "payroll bonuses", "bridge corrosion", "flour and egg", "opening hours", "treaty")


@dataclass
class ProbeReport:
    probes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)
    chunks_returned: int = 0  # search results and /ask passages and citations handed to B
    a_chunks_returned: int = 0  # ... of which belong to A (by document id or marker): must stay 0
    a_documents: int = 0
    a_documents_after: int = 0

    @property
    def total(self) -> int:
        return sum(self.probes.values())

    def summary(self) -> dict[str, Any]:
        return {
            "probes": self.total,
            "by_kind": dict(self.probes),
            "statuses": dict(self.statuses),
            "tenant_a_documents": self.a_documents,
            "tenant_a_documents_after": self.a_documents_after,
            "chunks_returned_to_b": self.chunks_returned,
            "tenant_a_chunks_returned_to_b": self.a_chunks_returned,
            "leaks": len(self.leaks),
        }


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _ingest(client: Any, key: str, name: str, text: str, collection: str) -> str:
    r = client.post(
        "/ingest",
        files=[("files", (name, text.encode(), "text/plain"))],
        data={"collection": collection},
        headers=_h(key),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["documents"][0]["id"])


def run_probes(client: Any, n: int = 200, *, seed: int = 0, ask_fraction: float = 0.05) -> ProbeReport:
    """Ingest for A and B through ``client``, send ``n`` probes as B, return what leaked (nothing, we hope)."""
    rng = random.Random(seed)
    report = ProbeReport()
    a_ids: list[str] = []
    a_markers: list[str] = []
    a_sentences: list[str] = []
    for i, topic in enumerate(TOPICS * 2):
        marker = f"alphamark{i:02d}" + "".join(rng.choice("qwxz") for _ in range(4))
        text = f"{topic} Internal reference {marker}. {topic.replace('.', f' ({marker}).')}"
        a_ids.append(_ingest(client, KEY_A, f"a-{i}.txt", text, COLLECTIONS_A[i % 2]))
        a_markers.append(marker)
        a_sentences.append(topic)
    for i, topic in enumerate(TOPICS[:3]):
        _ingest(client, KEY_B, f"b-{i}.txt", f"{topic} Beta's own copy number {i}.", "default")
    report.a_documents = len(set(a_ids))
    # One answer of A's, whose id B will try to rate.
    r = client.post("/ask", json={"question": "When are bonuses paid?", "max_new_tokens": 8}, headers=_h(KEY_A))
    a_answer = r.json().get("answer_id") if r.status_code == 200 else None

    secrets = set(a_ids) | set(a_markers)

    def count_chunks(body: dict[str, Any]) -> None:
        items = [*body.get("results", []), *body.get("passages", []), *body.get("citations", [])]
        report.chunks_returned += len(items)
        for item in items:
            if item.get("document_id") in a_ids or any(m in item.get("text", "") for m in a_markers):
                report.a_chunks_returned += 1
                report.leaks.append(f"tenant A's chunk returned to B: {str(item)[:300]}")

    def leaked(kind: str, text: str) -> None:
        found = [s for s in secrets if s in text]
        if found:
            report.leaks.append(f"{kind}: {found[:3]} in {text[:300]}")

    kinds = ["search", "get", "delete", "list", "feedback", "chat"]
    weights = [0.55, 0.1, 0.1, 0.1, 0.05, 0.05]
    for _ in range(n):
        kind = "ask" if rng.random() < ask_fraction else rng.choices(kinds, weights)[0]
        query = rng.choice([*a_markers, *a_sentences, *PLAIN_QUERIES])
        # A generated answer may echo its question, so questions never carry A's markers.
        question = rng.choice([*a_sentences, *PLAIN_QUERIES])
        echoed = ""
        collection = rng.choice([None, *COLLECTIONS_A, "other"])
        report.probes[kind] += 1
        if kind == "search":
            body: dict[str, Any] = {"query": query, "top_k": rng.randint(1, 50)}
            mode = rng.choice([None, "dense", "bm25", "hybrid"])
            if mode:
                body["retrieval_mode"] = mode
            if collection:
                body["collection"] = collection
            r = client.post("/search", json=body, headers=_h(KEY_B))
            ok = r.status_code == 200
        elif kind == "ask":
            body = {"question": question, "max_new_tokens": 8, "top_k": rng.randint(1, 10)}
            if collection:
                body["collection"] = collection
            r = client.post("/ask", json=body, headers=_h(KEY_B))
            ok = r.status_code == 200
        elif kind == "chat":
            msgs = [{"role": "user", "content": question}]
            r = client.post(
                "/v1/chat/completions", json={"model": "rag", "messages": msgs, "max_tokens": 8}, headers=_h(KEY_B)
            )
            ok = r.status_code == 200
        elif kind == "get":
            echoed = rng.choice(a_ids)
            r = client.get(f"/documents/{echoed}", headers=_h(KEY_B))
            ok = r.status_code == 404
        elif kind == "delete":
            echoed = rng.choice(a_ids)
            r = client.delete(f"/documents/{echoed}", headers=_h(KEY_B))
            ok = r.status_code == 404
        elif kind == "list":
            params = {"collection": collection} if collection else {}
            r = client.get("/documents", params={**params, "limit": 500}, headers=_h(KEY_B))
            ok = r.status_code == 200
        else:  # feedback on A's answer
            if a_answer is None:
                report.probes[kind] -= 1
                continue
            r = client.post("/feedback", json={"answer_id": a_answer, "rating": -1}, headers=_h(KEY_B))
            ok = r.status_code == 404
        report.statuses[f"{kind}:{r.status_code}"] += 1
        if kind in ("search", "ask") and r.status_code == 200:
            count_chunks(r.json())
        if not ok:
            report.leaks.append(f"{kind}: unexpected status {r.status_code}: {r.text[:300]}")
        # A 404 may name the id it was asked about; anything else of A's is a leak.
        leaked(kind, r.text.replace(echoed, "<asked-id>") if echoed else r.text)

    r = client.get("/documents", params={"limit": 500}, headers=_h(KEY_A))
    assert r.status_code == 200, r.text
    report.a_documents_after = len({d["id"] for d in r.json()["documents"]} & set(a_ids))
    if report.a_documents_after != report.a_documents:
        report.leaks.append(f"tenant A lost documents: {report.a_documents} -> {report.a_documents_after}")
    return report


def main() -> None:
    from app.testing import running_server

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env = {"RAG_API_KEYS": API_KEYS, "RAG_MAX_NEW_TOKENS": "8", "RAG_RATE_LIMIT": ""}
    with running_server(env) as url, httpx.Client(base_url=url, timeout=120) as client:
        report = run_probes(client, args.probes, seed=args.seed)
    print(json.dumps(report.summary(), indent=2))
    for leak in report.leaks[:50]:
        print("LEAK:", leak)
    sys.exit(1 if report.leaks else 0)


if __name__ == "__main__":
    main()
