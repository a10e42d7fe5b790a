"""The embedded back end: SQLite holds everything, per-tenant FAISS and BM25 indexes search it in memory.

Durability and recovery
-----------------------
SQLite (``data_dir/store.sqlite3``) holds documents, chunks and chunk embeddings and is written (and
fsynced) before ``add_document`` returns. The per-tenant FAISS and BM25 indexes are in-memory caches of
it. FAISS snapshots (see ``retrieval.snapshots``) are written by a background thread when dirty (at
most every ``save_interval_s``) and on ``close``; ``load`` rebuilds any it cannot trust from the stored
embeddings. When the embedding model changes, every chunk is re-encoded from its text first.

One process owns a data folder, so this back end serves one replica; ``retrieval.postgres`` serves many.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.backend import Encode, NewDocument
from retrieval.bm25_index import Bm25Index
from retrieval.errors import IndexUnavailableError
from retrieval.snapshots import SnapshotFiles
from retrieval.store import DocumentStore, NewChunk
from retrieval.types import Document, IngestResult, SearchHit
from retrieval.vector_index import FaissVectorIndex, IndexKind, VectorIndex

logger = logging.getLogger(__name__)

_REENCODE_BATCH = 2048


@dataclass
class _Shard:
    """One tenant's indexes. They lock themselves; ``dirty`` means the snapshot on disk is behind."""

    tenant: str
    vectors: VectorIndex
    bm25: Bm25Index
    dirty: bool = False


class EmbeddedBackend:
    """``SearchBackend`` over SQLite + FAISS + BM25 in one process. Thread-safe once ``load`` has run.

    ``vector_index`` "auto" searches a tenant exactly below ``ann_threshold`` vectors and with HNSW
    above it (see benchmarks/ann_threshold.py for the trade-off). ``save_interval_s`` <= 0 disables
    the background snapshots (indexes are then saved on ``close``).
    """

    name = "embedded"

    def __init__(
        self,
        data_dir: Path,
        *,
        vector_index: str = "auto",
        ann_threshold: int = 100_000,
        save_interval_s: float = 2.0,
    ) -> None:
        if vector_index not in ("auto", "flat", "hnsw", "ivf"):
            raise ValueError(f"vector_index must be auto, flat, hnsw or ivf, not {vector_index!r}")
        self.data_dir = Path(data_dir)
        self.vector_index = vector_index
        self.ann_threshold = ann_threshold
        self.save_interval_s = save_interval_s
        self.store = DocumentStore(self.data_dir / "store.sqlite3")
        self.snapshots = SnapshotFiles(self.data_dir, "", 0)
        self._shards: dict[str, _Shard] = {}
        self._write_lock = threading.Lock()  # store writes + index updates happen as one step
        self._snapshot_lock = threading.Lock()  # one snapshot writer at a time
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self._ready = False
        self._model_name = ""
        self._dimension = 0

    # --- lifecycle -------------------------------------------------------------------------------

    def load(self, model_name: str, dimension: int, encode: Encode) -> None:
        """Open the store, bring embeddings up to the current model, then load or rebuild each index."""
        if self._ready:
            return
        self._model_name, self._dimension = model_name, dimension
        self.snapshots = SnapshotFiles(self.data_dir, model_name, dimension)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store.open()
        self._check_embedding_model(encode)
        self._shards = {tenant: self._load_shard(tenant) for tenant in self.store.tenants()}
        self._stop.clear()
        if self.save_interval_s > 0:
            self._saver = threading.Thread(target=self._save_loop, name="index-snapshots", daemon=True)
            self._saver.start()
        self._ready = True
        logger.info(
            "embedded back end ready: %d tenants, %d vectors",
            len(self._shards),
            sum(len(s.vectors) for s in self._shards.values()),
        )

    def close(self) -> None:
        """Stop the snapshot thread, write a final snapshot of every dirty index, close the store."""
        if not self._ready:
            return
        self._ready = False
        self._stop.set()
        if self._saver is not None:
            self._saver.join()
            self._saver = None
        with self._write_lock:
            self.save_snapshots()
            self.store.close()

    def ping(self) -> None:
        if not self._ready:
            raise IndexUnavailableError("the embedded store is not open")

    # --- start-up consistency --------------------------------------------------------------------

    def _check_embedding_model(self, encode: Encode) -> None:
        name, dim = self._model_name, self._dimension
        stored_name = self.store.get_meta("embedding_model")
        stored_dim = self.store.get_meta("embedding_dimension")
        stored_vec_dim = self.store.embedding_dimension()
        changed = (stored_name is not None and stored_name != name) or (
            stored_dim is not None and int(stored_dim) != dim
        )
        if stored_name is None and stored_vec_dim is not None and stored_vec_dim != dim:
            changed = True
        if changed:
            logger.warning(
                "embedding model changed (%s/%s -> %s/%d): re-encoding every stored chunk from its text",
                stored_name,
                stored_dim,
                name,
                dim,
            )
            n = 0
            for ids, texts in self.store.iter_chunk_texts(batch=_REENCODE_BATCH):
                self.store.update_embeddings(ids, encode(texts))
                n += len(ids)
            logger.warning("re-encoded %d chunks with %s", n, name)
        self.store.set_meta("embedding_model", name)
        self.store.set_meta("embedding_dimension", str(dim))

    def _kind_for(self, count: int) -> IndexKind:
        if self.vector_index == "auto":
            return "hnsw" if count >= self.ann_threshold else "flat"
        return self.vector_index  # type: ignore[return-value]

    def _new_index(self, kind: IndexKind = "flat") -> VectorIndex:
        return FaissVectorIndex(self._dimension, kind)

    def _load_shard(self, tenant: str) -> _Shard:
        store_ids = self.store.chunk_ids(tenant)
        kind = self._kind_for(store_ids.size)
        vectors = self.snapshots.load(tenant, store_ids, kind, self._new_index)
        dirty = False
        if vectors is None:
            vectors = self._build_vectors(tenant, kind)
            dirty = True
        bm25 = Bm25Index()
        ids, texts, collections = self.store.load_texts(tenant)
        bm25.add(ids, texts, collections)
        return _Shard(tenant=tenant, vectors=vectors, bm25=bm25, dirty=dirty)

    def _build_vectors(self, tenant: str, kind: IndexKind) -> VectorIndex:
        ids, vecs = self.store.load_embeddings(tenant, self._dimension)
        index = self._new_index(kind)
        index.add(ids, vecs)
        logger.info("built %s index for tenant %r from %d stored embeddings", kind, tenant, ids.size)
        return index

    # --- snapshots and ANN switching -------------------------------------------------------------

    def save_snapshots(self) -> int:
        """Write the index file and manifest of every dirty shard; returns how many were written."""
        written = 0
        with self._snapshot_lock:
            for shard in list(self._shards.values()):
                if not shard.dirty:
                    continue
                shard.dirty = False  # cleared first: a change during the write marks it again
                try:
                    self.snapshots.write(shard.tenant, shard.vectors)
                    written += 1
                except Exception:
                    shard.dirty = True
                    logger.exception("could not snapshot the index of tenant %r", shard.tenant)
        return written

    def _save_loop(self) -> None:
        while not self._stop.wait(self.save_interval_s):
            try:
                self.maybe_switch_to_ann()
                self.save_snapshots()
            except Exception:
                logger.exception("index snapshot failed")

    def maybe_switch_to_ann(self) -> None:
        """In "auto" mode, move a shard that grew past ``ann_threshold`` from exact search to HNSW."""
        if self.vector_index != "auto":
            return
        for shard in list(self._shards.values()):
            if shard.vectors.kind == "flat" and len(shard.vectors) >= self.ann_threshold:
                # Writers wait while the graph is built; searches keep using the exact index meanwhile.
                with self._write_lock:
                    ids, vecs = shard.vectors.export()
                    hnsw = self._new_index("hnsw")
                    hnsw.add(ids, vecs)
                    shard.vectors = hnsw
                    shard.dirty = True
                logger.info("tenant %r passed %d vectors: switched to HNSW", shard.tenant, self.ann_threshold)

    # --- writes ----------------------------------------------------------------------------------

    def add_document(self, new: NewDocument) -> IngestResult:
        with self._write_lock:
            self.ping()
            # Under the lock, which every writer of this folder takes: a concurrent request, or an
            # earlier file of the same request, may have stored these bytes since the caller looked.
            existing = self.store.find_by_sha256(new.tenant, new.collection, new.sha256)
            if existing is not None:
                return IngestResult(document=existing, deduplicated=True)
            doc, ids = self.store.insert_document(
                document_id=new.document_id,
                tenant=new.tenant,
                collection=new.collection,
                source=new.source,
                sha256=new.sha256,
                metadata=new.metadata,
                text=new.text,
                chunks=[NewChunk(span=s, embedding=v) for s, v in zip(new.spans, new.vectors, strict=True)],
            )
            shard = self._shards.get(new.tenant)
            if shard is None:
                shard = _Shard(tenant=new.tenant, vectors=self._new_index(self._kind_for(0)), bm25=Bm25Index())
                self._shards[new.tenant] = shard
            id_arr = np.asarray(ids, dtype=np.int64)
            shard.vectors.add(id_arr, new.vectors)
            shard.bm25.add(id_arr, [s.text for s in new.spans], [new.collection] * len(ids))
            shard.dirty = True
        return IngestResult(document=doc, deduplicated=False)

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Delete the document and its chunks from the store, then from every index of the tenant."""
        self.ping()
        with self._write_lock:
            ids = self.store.delete_document(tenant, document_id)
            shard = self._shards.get(tenant)
            if shard is not None and ids:
                shard.vectors.remove(ids)
                shard.bm25.remove(ids)
                shard.dirty = True

    # --- reads -----------------------------------------------------------------------------------

    def find_by_sha256(self, tenant: str, collection: str, sha256: str) -> Document | None:
        self.ping()
        return self.store.find_by_sha256(tenant, collection, sha256)

    def get_document(self, tenant: str, document_id: str) -> Document:
        self.ping()
        return self.store.get_document(tenant, document_id)

    def document_text(self, tenant: str, document_id: str) -> str:
        self.ping()
        return self.store.get_document_text(tenant, document_id)

    def list_documents(
        self, tenant: str, *, collection: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Document], int]:
        self.ping()
        return self.store.list_documents(tenant, collection=collection, limit=limit, offset=offset)

    def dense_search(self, tenant: str, vector: np.ndarray, k: int, collection: str | None) -> list[SearchHit]:
        self.ping()
        shard = self._shards.get(tenant)
        if shard is None or k <= 0:
            return []
        allowed: np.ndarray | None = None
        if collection is not None:
            allowed = self.store.chunk_ids(tenant, collection)
            if allowed.size == 0:
                return []
        ids, scores = shard.vectors.search(vector, k, allowed)
        return self._hits(tenant, ids, scores, k)

    def keyword_search(self, tenant: str, query: str, k: int, collection: str | None) -> list[SearchHit]:
        self.ping()
        shard = self._shards.get(tenant)
        if shard is None or k <= 0:
            return []
        ids, scores = shard.bm25.search(query, k, collection)
        return self._hits(tenant, ids, scores, k)

    def _hits(self, tenant: str, ids: np.ndarray, scores: np.ndarray, k: int) -> list[SearchHit]:
        # A chunk deleted between the index call and this read is dropped, so a hit is never stale.
        chunks = self.store.get_chunks(tenant, ids.tolist())
        pairs = zip(ids.tolist(), scores.tolist(), strict=True)
        hits = [SearchHit(chunk=chunks[i], score=float(s)) for i, s in pairs if i in chunks]
        return hits[:k]

    def stats(self) -> dict[str, Any]:
        self.ping()
        counts = self.store.counts()
        tenants: dict[str, Any] = {}
        for tenant, c in sorted(counts.items()):
            shard = self._shards.get(tenant)
            tenants[tenant] = {
                **c,
                "vectors": len(shard.vectors) if shard else 0,
                "index_kind": shard.vectors.kind if shard else None,
            }
        kinds = sorted({t["index_kind"] for t in tenants.values() if t["index_kind"]})
        return {
            "backend": self.name,
            "documents": sum(c["documents"] for c in counts.values()),
            "chunks": sum(c["chunks"] for c in counts.values()),
            "vector_index": {
                "setting": self.vector_index,
                "kinds": kinds,
                "size": sum(t["vectors"] for t in tenants.values()),
                "ann_threshold": self.ann_threshold,
            },
            "tenants": tenants,
        }
