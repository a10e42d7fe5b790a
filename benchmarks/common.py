"""What the benchmarks share: the SQuAD 2.0 sample, ingesting it, percentiles, the server spawner, and a
retrieval service on either back end (with a throwaway PostgreSQL when no database is given).

The server spawner lives in the package (``app.testing``), because the tests use it too; it is
re-exported here so a benchmark needs one import.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.testing import ROOT, ServerProcess, free_port, running_server
from retrieval.backend import SearchBackend
from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import Encoder
from retrieval.postgres.backend import PostgresBackend
from retrieval.postgres.database import Database
from retrieval.service import RetrievalService

__all__ = [
    "BACKENDS",
    "ROOT",
    "SQUAD",
    "Question",
    "ServerProcess",
    "Squad",
    "database",
    "free_port",
    "ingest_paragraphs",
    "load_squad",
    "percentile",
    "process_memory_mib",
    "retrieval_service",
    "running_server",
    "sample",
    "stored_texts",
]


def _squad_path() -> Path:
    if "RAG_BENCH_SQUAD" in os.environ:
        return Path(os.environ["RAG_BENCH_SQUAD"])
    candidates = [base / "shared" / "data" / "squad2-dev-3articles.json" for base in (ROOT, ROOT.parent)]
    return next((c for c in candidates if c.exists()), candidates[-1])


SQUAD = _squad_path()
"""Three articles of the SQuAD 2.0 dev set (answerable and unanswerable questions): ``$RAG_BENCH_SQUAD``,
else ``shared/data/squad2-dev-3articles.json`` in or beside the checkout."""


@dataclass(frozen=True)
class Question:
    text: str
    paragraph: int  # index into Squad.paragraphs: the paragraph the question was written on
    answerable: bool
    answers: tuple[str, ...]  # distinct gold answers, sorted; empty when unanswerable


@dataclass(frozen=True)
class Squad:
    paragraphs: list[str]
    questions: list[Question]

    def answerable(self) -> list[Question]:
        return [q for q in self.questions if q.answerable]


def sample(questions: list[Question], n: int, seed: int) -> list[Question]:
    """``n`` answerable then ``n`` unanswerable questions, drawn with ``random.Random(seed)``."""
    rng = random.Random(seed)
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    return rng.sample(answerable, n) + rng.sample(unanswerable, n)


def load_squad(path: Path = SQUAD, paragraphs: int | None = None) -> Squad:
    """Every paragraph of a SQuAD 2.0 file and its questions, in file order.

    With ``paragraphs``, only that many, taken evenly from the start of each article (so a small corpus
    still covers every article).
    """
    articles = json.loads(path.read_text())["data"]
    chosen: list[dict[str, Any]] = [p for a in articles for p in a["paragraphs"]]
    if paragraphs is not None:
        per_article = -(-paragraphs // len(articles))
        chosen = [p for a in articles for p in a["paragraphs"][:per_article]][:paragraphs]
    texts: list[str] = []
    questions: list[Question] = []
    for para in chosen:
        index = len(texts)
        texts.append(para["context"])
        for qa in para["qas"]:
            answerable = not qa.get("is_impossible")
            answers = tuple(sorted({a["text"] for a in qa["answers"]}))
            questions.append(Question(qa["question"], index, answerable, answers))
    return Squad(texts, questions)


def ingest_paragraphs(client: Any, paragraphs: list[str]) -> None:
    """One ``POST /ingest`` per paragraph, named ``p0000.txt``, ``p0001.txt``, ... in order, so a search
    hit's ``source`` names its paragraph. ``client`` is any httpx-style client with a base URL."""
    for i, text in enumerate(paragraphs):
        client.post("/ingest", files=[("files", (f"p{i:04d}.txt", text.encode()))]).raise_for_status()


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0-100); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


BACKENDS = ("embedded", "postgres")


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """``url`` as given, or else an empty database on a throwaway PostgreSQL 18 + pgvector for the block.

    The throwaway server runs with fsync on, as the embedded store (SQLite, ``synchronous=FULL``) does.
    """
    if url:
        yield url
        return
    from tests.postgres_server import postgres_server

    with postgres_server(fsync=True) as server:
        yield server.url(server.create_database())


def retrieval_service(
    backend: str, encoder: Encoder, *, data_dir: Path | None = None, database_url: str | None = None
) -> RetrievalService:
    """A loaded ``RetrievalService`` on the embedded back end in ``data_dir`` (no background snapshots)
    or on PostgreSQL at ``database_url``."""
    store: SearchBackend
    if backend == "embedded":
        if data_dir is None:
            raise ValueError("the embedded back end needs a data folder")
        store = EmbeddedBackend(data_dir, save_interval_s=0)
    elif backend == "postgres":
        if not database_url:
            raise ValueError("the postgres back end needs a database URL")
        store = PostgresBackend(Database(database_url), wait_s=10)
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    svc = RetrievalService(backend=store, encoder=encoder)
    svc.load()
    return svc


def process_memory_mib(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of process ``pid`` in MiB, from /proc (VmRSS, VmHWM)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def stored_texts(svc: RetrievalService, tenant: str, after_id: int = 0) -> tuple[list[int], list[str]]:
    """Ids and texts of ``tenant``'s chunks stored after chunk ``after_id``, in the order stored, from either
    back end."""
    backend = svc.backend
    if isinstance(backend, EmbeddedBackend):
        ids, texts, _ = backend.store.load_texts(tenant)
        start = int(np.searchsorted(ids, after_id, side="right"))
        return ids[start:].tolist(), texts[start:]
    if isinstance(backend, PostgresBackend):
        with backend.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, text FROM chunks WHERE tenant = %s AND id > %s ORDER BY id", (tenant, after_id)
            ).fetchall()
        return [int(r[0]) for r in rows], [str(r[1]) for r in rows]
    raise TypeError(f"unknown back end {type(backend).__name__}")
