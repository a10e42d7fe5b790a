"""SQLite document store: durability pragmas, dedup, tenant scoping, cascades, pagination."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.errors import DocumentNotFoundError
from retrieval.store import DocumentStore, NewChunk
from retrieval.types import ChunkSpan

DIM = 8


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    s = DocumentStore(tmp_path / "store.sqlite3")
    s.open()
    yield s
    s.close()


def _chunks(text: str, n: int = 2) -> list[NewChunk]:
    step = max(1, len(text) // n)
    out = []
    for i in range(n):
        start, end = i * step, min(len(text), (i + 1) * step)
        vec = np.full(DIM, float(i + 1), dtype=np.float32)
        out.append(NewChunk(span=ChunkSpan(text=text[start:end], start=start, end=end, page=None), embedding=vec))
    return out


def _insert(
    store: DocumentStore,
    doc_id: str,
    tenant: str = "t1",
    collection: str = "c",
    sha: str | None = None,
    created_at: float | None = None,
) -> list[int]:
    text = f"document {doc_id} body text"
    _, ids = store.insert_document(
        document_id=doc_id,
        tenant=tenant,
        collection=collection,
        source=f"{doc_id}.txt",
        sha256=sha or doc_id,
        metadata={"k": doc_id},
        text=text,
        chunks=_chunks(text),
        created_at=created_at,
    )
    return ids


def test_wal_synchronous_full_and_foreign_keys(store: DocumentStore) -> None:
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL
    assert store.pragma("foreign_keys") == 1


def test_insert_and_read_back(store: DocumentStore) -> None:
    ids = _insert(store, "a")
    assert len(ids) == 2 and ids[0] < ids[1]
    doc = store.get_document("t1", "a")
    assert (doc.source, doc.chunk_count, doc.metadata) == ("a.txt", 2, {"k": "a"})
    assert store.get_document_text("t1", "a") == "document a body text"
    chunks = store.get_chunks("t1", ids)
    text = store.get_document_text("t1", "a")
    for c in chunks.values():
        assert text[c.start : c.end] == c.text
        assert c.source == "a.txt" and c.tenant == "t1"
    got_ids, vecs = store.load_embeddings("t1", DIM)
    assert got_ids.tolist() == ids
    assert np.array_equal(vecs[1], np.full(DIM, 2.0, dtype=np.float32))
    assert store.embedding_dimension() == DIM


def test_same_bytes_same_collection_is_unique(store: DocumentStore) -> None:
    _insert(store, "a", sha="s1")
    assert store.find_by_sha256("t1", "c", "s1") is not None
    with pytest.raises(sqlite3.IntegrityError):
        _insert(store, "b", sha="s1")
    # The failed transaction left nothing behind.
    assert store.counts()["t1"] == {"documents": 1, "chunks": 2}
    # The same bytes in another collection or tenant are separate documents.
    _insert(store, "c", collection="other", sha="s1")
    _insert(store, "d", tenant="t2", sha="s1")
    assert store.find_by_sha256("t2", "c", "s1") is not None
    assert store.find_by_sha256("t1", "missing", "s1") is None


def test_reads_and_deletes_are_scoped_by_tenant(store: DocumentStore) -> None:
    ids_a = _insert(store, "a", tenant="t1")
    _insert(store, "b", tenant="t2")
    with pytest.raises(DocumentNotFoundError):
        store.get_document("t2", "a")
    with pytest.raises(DocumentNotFoundError):
        store.get_document_text("t2", "a")
    with pytest.raises(DocumentNotFoundError):
        store.delete_document("t2", "a")
    assert store.get_chunks("t2", ids_a) == {}
    assert store.list_documents("t2")[1] == 1
    assert store.tenants() == ["t1", "t2"]
    assert store.chunk_ids("t1").tolist() == ids_a


def test_delete_cascades_to_chunks_and_ids_are_not_reused(store: DocumentStore) -> None:
    ids = _insert(store, "a")
    assert store.delete_document("t1", "a") == ids
    assert store.get_chunks("t1", ids) == {}
    assert store.chunk_ids("t1").size == 0
    with pytest.raises(DocumentNotFoundError):
        store.get_document("t1", "a")
    new_ids = _insert(store, "b")
    assert min(new_ids) > max(ids)


def test_pagination_newest_first_with_total(store: DocumentStore) -> None:
    for i in range(7):
        _insert(store, f"d{i}", collection="x" if i % 2 else "y", created_at=1000.0 + i)
    page, total = store.list_documents("t1", limit=3, offset=0)
    assert total == 7 and [d.id for d in page] == ["d6", "d5", "d4"]
    page, total = store.list_documents("t1", limit=3, offset=6)
    assert total == 7 and [d.id for d in page] == ["d0"]
    page, total = store.list_documents("t1", collection="x", limit=10)
    assert total == 3 and [d.id for d in page] == ["d5", "d3", "d1"]
    assert store.list_documents("t1", limit=3, offset=100) == ([], 7)


def test_collection_chunk_ids_texts_and_meta(store: DocumentStore) -> None:
    a = _insert(store, "a", collection="x")
    b = _insert(store, "b", collection="y")
    assert store.chunk_ids("t1", "x").tolist() == a
    ids, texts, colls = store.load_texts("t1")
    assert ids.tolist() == a + b and colls == ["x", "x", "y", "y"] and all(texts)
    assert store.get_meta("embedding_model") is None
    store.set_meta("embedding_model", "m1")
    store.set_meta("embedding_model", "m2")
    assert store.get_meta("embedding_model") == "m2"


def test_update_embeddings_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = DocumentStore(path)
    s.open()
    ids = _insert(s, "a")
    batches = list(s.iter_chunk_texts(batch=1))
    assert [b[0] for b in batches] == [[ids[0]], [ids[1]]]
    s.update_embeddings(ids, np.zeros((2, 4), dtype=np.float32))
    s.close()
    again = DocumentStore(path)
    again.open()
    got_ids, vecs = again.load_embeddings("t1", 4)
    assert got_ids.tolist() == ids and not vecs.any()
    again.close()
