"""The SQLite document store: the one source of truth for documents, chunks and their embeddings.

The vector and BM25 indexes are caches rebuilt from this store, which is why each chunk row keeps its
embedding. One writer connection (behind a lock) does every write, each document in one transaction;
readers share a second connection so a long write never blocks a search on Python's side (WAL lets
SQLite readers proceed while the writer commits).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import DocumentNotFoundError
from retrieval.types import Chunk, ChunkSpan, Document

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    collection TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    metadata TEXT NOT NULL,
    text TEXT NOT NULL,
    char_count INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant, collection, sha256)
);
CREATE INDEX IF NOT EXISTS documents_by_tenant ON documents (tenant, collection, created_at);
-- AUTOINCREMENT: a chunk id is never reused after a delete, so an index snapshot holding a deleted
-- id can never be mistaken for one holding a newer chunk that got the same id.
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    tenant TEXT NOT NULL,
    collection TEXT NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    page INTEGER,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_by_tenant ON chunks (tenant, collection);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_DOC_COLUMNS = "id, tenant, collection, source, sha256, metadata, created_at, chunk_count, char_count"


@dataclass(frozen=True, slots=True)
class NewChunk:
    span: ChunkSpan
    embedding: np.ndarray  # (D,) float32


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _row_to_document(row: Sequence[Any]) -> Document:
    return Document.from_row(row, json.loads(row[5]))


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


class DocumentStore:
    """Documents and chunks in SQLite. Every read and delete is scoped by tenant."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = _connect(self.path)
        writer.executescript(_SCHEMA)
        self._writer = writer
        self._reader = _connect(self.path)

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    conn.close()
            self._writer = self._reader = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    def _w(self) -> sqlite3.Connection:
        if self._writer is None:
            raise RuntimeError("DocumentStore is not open")
        return self._writer

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            if self._reader is None:
                raise RuntimeError("DocumentStore is not open")
            return self._reader.execute(sql, params).fetchall()

    def pragma(self, name: str) -> Any:
        """The value of a PRAGMA on the writer connection (for checks and tests)."""
        with self._write_lock:
            return self._w().execute(f"PRAGMA {name}").fetchone()[0]

    # --- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            self._w().execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- writes ----------------------------------------------------------------------------------

    def insert_document(
        self,
        *,
        document_id: str,
        tenant: str,
        collection: str,
        source: str,
        sha256: str,
        metadata: Mapping[str, Any],
        text: str,
        chunks: Sequence[NewChunk],
        created_at: float | None = None,
    ) -> tuple[Document, list[int]]:
        """Store a document and its chunks in one transaction; returns it and the new chunk ids in order.

        Raises sqlite3.IntegrityError if the same bytes are already stored in this tenant+collection.
        """
        created = time.time() if created_at is None else created_at
        meta_json = json.dumps(dict(metadata), sort_keys=True, default=str)
        with self._write_lock:
            conn = self._w()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    f"INSERT INTO documents ({_DOC_COLUMNS}, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        document_id,
                        tenant,
                        collection,
                        source,
                        sha256,
                        meta_json,
                        created,
                        len(chunks),
                        len(text),
                        text,
                    ),
                )
                ids: list[int] = []
                for c in chunks:
                    cur = conn.execute(
                        'INSERT INTO chunks (document_id, tenant, collection, text, start, "end", page, '
                        "embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            document_id,
                            tenant,
                            collection,
                            c.span.text,
                            c.span.start,
                            c.span.end,
                            c.span.page,
                            _blob(c.embedding),
                        ),
                    )
                    assert cur.lastrowid is not None
                    ids.append(int(cur.lastrowid))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        doc = Document(
            id=document_id,
            tenant=tenant,
            collection=collection,
            source=source,
            sha256=sha256,
            metadata=json.loads(meta_json),
            created_at=created,
            chunk_count=len(chunks),
            char_count=len(text),
        )
        return doc, ids

    def delete_document(self, tenant: str, document_id: str) -> list[int]:
        """Delete a document and (by cascade) its chunks; returns the deleted chunk ids."""
        with self._write_lock:
            conn = self._w()
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute(
                    "SELECT 1 FROM documents WHERE id = ? AND tenant = ?", (document_id, tenant)
                ).fetchone()
                if found is None:
                    raise DocumentNotFoundError(f"document {document_id!r} not found")
                ids = [int(r[0]) for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))]
                conn.execute("DELETE FROM documents WHERE id = ? AND tenant = ?", (document_id, tenant))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return ids

    def update_embeddings(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Replace the embeddings of chunks ``ids`` (after the embedding model changed)."""
        with self._write_lock:
            conn = self._w()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "UPDATE chunks SET embedding = ? WHERE id = ?",
                    ((_blob(v), int(i)) for i, v in zip(ids, vectors, strict=True)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # --- reads -----------------------------------------------------------------------------------

    def find_by_sha256(self, tenant: str, collection: str, sha256: str) -> Document | None:
        rows = self._read(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE tenant = ? AND collection = ? AND sha256 = ?",
            (tenant, collection, sha256),
        )
        return _row_to_document(rows[0]) if rows else None

    def get_document(self, tenant: str, document_id: str) -> Document:
        rows = self._read(f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = ? AND tenant = ?", (document_id, tenant))
        if not rows:
            raise DocumentNotFoundError(f"document {document_id!r} not found")
        return _row_to_document(rows[0])

    def get_document_text(self, tenant: str, document_id: str) -> str:
        rows = self._read("SELECT text FROM documents WHERE id = ? AND tenant = ?", (document_id, tenant))
        if not rows:
            raise DocumentNotFoundError(f"document {document_id!r} not found")
        return str(rows[0][0])

    def list_documents(
        self, tenant: str, *, collection: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Document], int]:
        """One page of the tenant's documents, newest first, and the total count."""
        where, params = "tenant = ?", [tenant]
        if collection is not None:
            where += " AND collection = ?"
            params.append(collection)
        total = int(self._read(f"SELECT COUNT(*) FROM documents WHERE {where}", params)[0][0])
        rows = self._read(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            [*params, max(0, limit), max(0, offset)],
        )
        return [_row_to_document(r) for r in rows], total

    def tenants(self) -> list[str]:
        rows = self._read("SELECT DISTINCT tenant FROM chunks UNION SELECT DISTINCT tenant FROM documents")
        return sorted(str(r[0]) for r in rows)

    def chunk_ids(self, tenant: str, collection: str | None = None) -> np.ndarray:
        """Sorted int64 ids of the tenant's chunks (optionally one collection's)."""
        if collection is None:
            rows = self._read("SELECT id FROM chunks WHERE tenant = ? ORDER BY id", (tenant,))
        else:
            rows = self._read(
                "SELECT id FROM chunks WHERE tenant = ? AND collection = ? ORDER BY id", (tenant, collection)
            )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def load_embeddings(self, tenant: str, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids (N,) int64, vectors (N, D) float32) of the tenant's chunks, sorted by id."""
        rows = self._read("SELECT id, embedding FROM chunks WHERE tenant = ? ORDER BY id", (tenant,))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.empty((len(rows), dimension), dtype=np.float32)
        for i, r in enumerate(rows):
            vectors[i] = np.frombuffer(r[1], dtype="<f4")
        return ids, vectors

    def embedding_dimension(self) -> int | None:
        """Dimension of the stored embeddings, from any one chunk (None when there are no chunks)."""
        rows = self._read("SELECT length(embedding) FROM chunks LIMIT 1")
        return int(rows[0][0]) // 4 if rows else None

    def load_texts(self, tenant: str) -> tuple[np.ndarray, list[str], list[str]]:
        """(ids, texts, collections) of the tenant's chunks, sorted by id."""
        rows = self._read("SELECT id, text, collection FROM chunks WHERE tenant = ? ORDER BY id", (tenant,))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, [str(r[1]) for r in rows], [str(r[2]) for r in rows]

    def iter_chunk_texts(self, batch: int = 1024) -> Iterator[tuple[list[int], list[str]]]:
        """Every chunk's (ids, texts) in batches, for re-encoding."""
        last = -1
        while True:
            rows = self._read("SELECT id, text FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch))
            if not rows:
                return
            yield [int(r[0]) for r in rows], [str(r[1]) for r in rows]
            last = int(rows[-1][0])

    def get_chunks(self, tenant: str, ids: Sequence[int]) -> dict[int, Chunk]:
        """The tenant's chunks among ``ids`` (ids of another tenant or deleted ids are absent)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._read(
            'SELECT c.id, c.document_id, c.tenant, c.collection, d.source, c.text, c.start, c."end", c.page '
            f"FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.tenant = ? AND c.id IN ({marks})",
            [tenant, *(int(i) for i in ids)],
        )
        return {int(r[0]): Chunk.from_row(r) for r in rows}

    def counts(self) -> dict[str, dict[str, int]]:
        """{tenant: {"documents": n, "chunks": m}}."""
        out: dict[str, dict[str, int]] = {}
        for tenant, n in self._read("SELECT tenant, COUNT(*) FROM documents GROUP BY tenant"):
            out.setdefault(tenant, {"documents": 0, "chunks": 0})["documents"] = int(n)
        for tenant, n in self._read("SELECT tenant, COUNT(*) FROM chunks GROUP BY tenant"):
            out.setdefault(tenant, {"documents": 0, "chunks": 0})["chunks"] = int(n)
        return out
