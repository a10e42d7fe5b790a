"""The retrieval facade: ingest, look up, delete and search documents, per tenant.

Durability and recovery
-----------------------
SQLite (``data_dir/store.sqlite3``) holds documents, chunks and chunk embeddings and is written (and
fsynced) before ``ingest`` returns. The per-tenant FAISS and BM25 indexes are in-memory caches of it.
FAISS snapshots go to ``data_dir/vectors/<tenant>.faiss`` plus a ``.json`` manifest, both written
atomically by a background thread when dirty (at most every ``save_interval_s``) and on ``close``.

``load`` trusts a snapshot only if its manifest names the current embedding model and dimension and
its ids are exactly the store's chunk ids for that tenant; otherwise it says why in a warning and
rebuilds from the stored embeddings. An unreadable file is moved to ``data_dir/quarantine/``, never
deleted. When the embedding model changes, every chunk is re-encoded from its text first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.bm25_index import Bm25Index
from retrieval.chunking import TokenChunker
from retrieval.encoder import Encoder
from retrieval.errors import DocumentTooLargeError, EmptyDocumentError, IndexUnavailableError, RetrievalError
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.parsing import ParseLimits, parse_document, safe_filename
from retrieval.store import DocumentStore, NewChunk
from retrieval.types import ChunkSpan, Document, IngestResult, RetrievalMode, SearchHit
from retrieval.vector_index import FaissVectorIndex, IndexKind, VectorIndex, atomic_write_bytes

logger = logging.getLogger(__name__)

_MANIFEST_FORMAT = 1
_REENCODE_BATCH = 2048


def ids_checksum(ids: np.ndarray) -> str:
    """sha256 of the sorted ids as little-endian int64: identifies the exact id set of a snapshot."""
    return hashlib.sha256(np.sort(np.asarray(ids, dtype="<i8")).tobytes()).hexdigest()


def tenant_file_stem(tenant: str) -> str:
    """A filesystem-safe, collision-free name for a tenant's index files."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", tenant)[:48] or "tenant"
    return f"{slug}-{hashlib.sha256(tenant.encode()).hexdigest()[:12]}"


@dataclass
class _Shard:
    """One tenant's indexes. They lock themselves; ``dirty`` means the FAISS file is behind."""

    tenant: str
    vectors: FaissVectorIndex
    bm25: Bm25Index
    dirty: bool = False


@dataclass
class _Prepared:
    """A parsed and chunked file waiting to be encoded and stored."""

    source: str
    sha256: str
    text: str
    metadata: dict[str, Any]
    spans: list[ChunkSpan]
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


class RetrievalService:
    """Documents, chunks and their indexes for many tenants. Thread-safe once ``load`` has run.

    ``ann_threshold``: the vector count per tenant at which "auto" switches from exact search to HNSW,
    about where exact search alone costs as much as encoding the query (benchmarks/ann_threshold.py).
    ``save_interval_s`` <= 0 disables the background snapshots (indexes are then saved on ``close``).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        encoder: Encoder,
        chunk_tokens: int = 200,
        chunk_overlap: int = 40,
        parse_limits: ParseLimits | None = None,
        max_chunks_per_document: int = 20_000,
        vector_index: str = "auto",
        ann_threshold: int = 100_000,
        rrf_k: int = 60,
        default_mode: RetrievalMode = RetrievalMode.HYBRID,
        save_interval_s: float = 2.0,
    ) -> None:
        if vector_index not in ("auto", "flat", "hnsw", "ivf"):
            raise ValueError(f"vector_index must be auto, flat, hnsw or ivf, not {vector_index!r}")
        self.data_dir = Path(data_dir)
        self.encoder = encoder
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.parse_limits = parse_limits
        self.max_chunks_per_document = max_chunks_per_document
        self.vector_index = vector_index
        self.ann_threshold = ann_threshold
        self.rrf_k = rrf_k
        self.default_mode = RetrievalMode(default_mode)
        self.save_interval_s = save_interval_s
        self.store = DocumentStore(self.data_dir / "store.sqlite3")
        self._chunker: TokenChunker | None = None
        self._shards: dict[str, _Shard] = {}
        self._write_lock = threading.Lock()  # store writes + index updates happen as one step
        self._snapshot_lock = threading.Lock()  # one snapshot writer at a time
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self._ready = False
        self._dimension = 0

    # --- paths -----------------------------------------------------------------------------------

    @property
    def vectors_dir(self) -> Path:
        return self.data_dir / "vectors"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    def index_paths(self, tenant: str) -> tuple[Path, Path]:
        """(index file, manifest file) of ``tenant``."""
        stem = tenant_file_stem(tenant)
        return self.vectors_dir / f"{stem}.faiss", self.vectors_dir / f"{stem}.json"

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    def load(self) -> None:
        """Open the store, bring embeddings up to the current model, then load or rebuild each index."""
        if self._ready:
            return
        self.encoder.load()
        self._dimension = self.encoder.dimension
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store.open()
        self._chunker = TokenChunker(
            self.encoder.tokenizer,
            chunk_tokens=self.chunk_tokens,
            overlap=self.chunk_overlap,
            max_tokens=self.encoder.max_tokens,
        )
        self._check_embedding_model()
        self._shards = {}
        for tenant in self.store.tenants():
            self._shards[tenant] = self._load_shard(tenant)
        self._stop.clear()
        if self.save_interval_s > 0:
            self._saver = threading.Thread(target=self._save_loop, name="index-snapshots", daemon=True)
            self._saver.start()
        self._ready = True
        logger.info(
            "retrieval ready: %d tenants, %d vectors",
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

    def _require_ready(self) -> None:
        if not self._ready:
            raise IndexUnavailableError("the retrieval service is not loaded")

    # --- start-up consistency --------------------------------------------------------------------

    def _check_embedding_model(self) -> None:
        name, dim = self.encoder.model_name, self._dimension
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
                self.store.update_embeddings(ids, self.encoder.encode(texts))
                n += len(ids)
            logger.warning("re-encoded %d chunks with %s", n, name)
        self.store.set_meta("embedding_model", name)
        self.store.set_meta("embedding_dimension", str(dim))

    def _kind_for(self, count: int) -> IndexKind:
        if self.vector_index == "auto":
            return "hnsw" if count >= self.ann_threshold else "flat"
        return self.vector_index  # type: ignore[return-value]

    def _load_shard(self, tenant: str) -> _Shard:
        store_ids = self.store.chunk_ids(tenant)
        vectors = self._load_vector_file(tenant, store_ids)
        dirty = False
        if vectors is None:
            vectors = self._build_vectors(tenant, self._kind_for(store_ids.size))
            dirty = True
        bm25 = Bm25Index()
        ids, texts, collections = self.store.load_texts(tenant)
        bm25.add(ids, texts, collections)
        return _Shard(tenant=tenant, vectors=vectors, bm25=bm25, dirty=dirty)

    def _build_vectors(self, tenant: str, kind: IndexKind) -> FaissVectorIndex:
        ids, vecs = self.store.load_embeddings(tenant, self._dimension)
        index = FaissVectorIndex(self._dimension, kind)
        index.add(ids, vecs)
        logger.info("built %s index for tenant %r from %d stored embeddings", kind, tenant, ids.size)
        return index

    def _load_vector_file(self, tenant: str, store_ids: np.ndarray) -> FaissVectorIndex | None:
        """The tenant's snapshot if it is trustworthy, else None (after a warning saying why)."""
        index_path, manifest_path = self.index_paths(tenant)
        if not index_path.exists():
            if store_ids.size:
                logger.warning("no index file for tenant %r: rebuilding from the store", tenant)
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            if not isinstance(manifest, dict):
                raise ValueError("manifest is not a JSON object")
        except (OSError, ValueError) as exc:
            logger.warning("index manifest of tenant %r is unreadable (%s): rebuilding", tenant, exc)
            self._quarantine(manifest_path)
            return None
        if manifest.get("embedding_model") != self.encoder.model_name or (manifest.get("dimension") != self._dimension):
            logger.warning(
                "index of tenant %r was built with %s/%s, not %s/%d: rebuilding",
                tenant,
                manifest.get("embedding_model"),
                manifest.get("dimension"),
                self.encoder.model_name,
                self._dimension,
            )
            return None
        index = FaissVectorIndex(self._dimension)
        try:
            index.load(index_path)
        except Exception as exc:  # faiss raises RuntimeError, numpy ValueError/OSError/zipfile errors
            logger.warning("index file of tenant %r is unreadable (%s): quarantined, rebuilding", tenant, exc)
            self._quarantine(index_path)
            return None
        loaded_ids = index.ids()
        if ids_checksum(loaded_ids) != manifest.get("ids_sha256"):
            logger.warning("index file of tenant %r does not match its manifest: rebuilding", tenant)
            return None
        if not np.array_equal(loaded_ids, store_ids):
            logger.warning(
                "index of tenant %r holds %d vectors but the store has %d chunks (or other ids): rebuilding",
                tenant,
                loaded_ids.size,
                store_ids.size,
            )
            return None
        if index.kind != self._kind_for(store_ids.size):
            logger.info("index of tenant %r is %s; rebuilding as configured", tenant, index.kind)
            return None
        return index

    def _quarantine(self, path: Path) -> None:
        if not path.exists():
            return
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:8]}"
        path.replace(target)
        logger.warning("moved %s to %s", path, target)

    # --- snapshots -------------------------------------------------------------------------------

    def save_snapshots(self) -> int:
        """Write the index file and manifest of every dirty shard; returns how many were written."""
        written = 0
        with self._snapshot_lock:
            for shard in list(self._shards.values()):
                if not shard.dirty:
                    continue
                shard.dirty = False  # cleared first: a change during the write marks it again
                try:
                    self._write_snapshot(shard)
                    written += 1
                except Exception:
                    shard.dirty = True
                    logger.exception("could not snapshot the index of tenant %r", shard.tenant)
        return written

    def _write_snapshot(self, shard: _Shard) -> None:
        data, ids = shard.vectors.snapshot()
        index_path, manifest_path = self.index_paths(shard.tenant)
        manifest = {
            "format": _MANIFEST_FORMAT,
            "tenant": shard.tenant,
            "embedding_model": self.encoder.model_name,
            "dimension": self._dimension,
            "kind": shard.vectors.kind,
            "count": int(ids.size),
            "ids_sha256": ids_checksum(ids),
            "saved_at": time.time(),
        }
        # Index first, then manifest: a crash in between leaves a checksum mismatch, i.e. a rebuild.
        atomic_write_bytes(index_path, lambda f: f.write(data))
        body = json.dumps(manifest, indent=2).encode()
        atomic_write_bytes(manifest_path, lambda f: f.write(body))

    def _save_loop(self) -> None:
        while not self._stop.wait(self.save_interval_s):
            try:
                self._maybe_switch_to_ann()
                self.save_snapshots()
            except Exception:
                logger.exception("index snapshot failed")

    def _maybe_switch_to_ann(self) -> None:
        """In "auto" mode, move a shard that grew past ``ann_threshold`` from exact search to HNSW."""
        if self.vector_index != "auto":
            return
        for shard in list(self._shards.values()):
            if shard.vectors.kind == "flat" and len(shard.vectors) >= self.ann_threshold:
                # Writers wait while the graph is built; searches keep using the exact index meanwhile.
                with self._write_lock:
                    ids, vecs = shard.vectors.export()
                    hnsw = FaissVectorIndex(self._dimension, "hnsw")
                    hnsw.add(ids, vecs)
                    shard.vectors = hnsw
                    shard.dirty = True
                logger.info("tenant %r passed %d vectors: switched to HNSW", shard.tenant, self.ann_threshold)

    # --- ingest ----------------------------------------------------------------------------------

    def ingest(
        self,
        *,
        tenant: str,
        collection: str,
        files: Sequence[tuple[str, bytes]],
        metadata: Mapping[str, Any] | None = None,
    ) -> list[IngestResult]:
        """Parse, chunk, embed and store ``files`` (name, bytes) in ``tenant``/``collection``.

        Every file is parsed and chunked before anything is stored, so one bad file raises its
        RetrievalError and stores nothing. Bytes already stored in this tenant+collection are not
        stored again: that file's result is the existing document with ``deduplicated=True``. Returns,
        in file order, only once the documents are durable in SQLite and searchable.
        """
        self._require_ready()
        assert self._chunker is not None
        user_meta = dict(metadata or {})
        limits = self.parse_limits if self.parse_limits is not None else ParseLimits()

        # 1. Parse and chunk everything (no lock): errors surface before any write, naming their file.
        plan: list[_Prepared | Document] = []
        for filename, data in files:
            sha = hashlib.sha256(data).hexdigest()
            existing = self.store.find_by_sha256(tenant, collection, sha)
            if existing is not None:
                plan.append(existing)
                continue
            try:
                parsed = parse_document(filename, data, limits)
                spans = self._chunker.chunk(parsed)
                if not spans:
                    raise EmptyDocumentError("It has no text to index.")
                if len(spans) > self.max_chunks_per_document:
                    raise DocumentTooLargeError(
                        f"It makes {len(spans)} chunks; the limit is {self.max_chunks_per_document}."
                    )
            except RetrievalError as exc:
                raise exc.naming(safe_filename(filename)) from exc
            plan.append(
                _Prepared(
                    source=safe_filename(filename),
                    sha256=sha,
                    text=parsed.text,
                    metadata={**parsed.metadata, **user_meta},
                    spans=spans,
                )
            )

        # 2. Encode every new chunk in one call (no lock), so batches stay full across small files.
        todo = [p for p in plan if isinstance(p, _Prepared)]
        texts = [s.text for p in todo for s in p.spans]
        if texts:
            vectors = self.encoder.encode(texts)  # (N, D)
            start = 0
            for p in todo:
                p.vectors = vectors[start : start + len(p.spans)]
                start += len(p.spans)

        # 3. Store and index, one document per transaction, under the writer lock.
        results: list[IngestResult] = []
        with self._write_lock:
            self._require_ready()
            for item in plan:
                if isinstance(item, Document):
                    results.append(IngestResult(document=item, deduplicated=True))
                    continue
                # Re-checked under the lock: a concurrent request, or an earlier file of this one.
                existing = self.store.find_by_sha256(tenant, collection, item.sha256)
                if existing is not None:
                    results.append(IngestResult(document=existing, deduplicated=True))
                    continue
                results.append(IngestResult(document=self._store_one(tenant, collection, item), deduplicated=False))
        return results

    def _store_one(self, tenant: str, collection: str, item: _Prepared) -> Document:
        doc, ids = self.store.insert_document(
            document_id=uuid.uuid4().hex,
            tenant=tenant,
            collection=collection,
            source=item.source,
            sha256=item.sha256,
            metadata=item.metadata,
            text=item.text,
            chunks=[NewChunk(span=s, embedding=v) for s, v in zip(item.spans, item.vectors, strict=True)],
        )
        shard = self._shards.get(tenant)
        if shard is None:
            shard = _Shard(
                tenant=tenant, vectors=FaissVectorIndex(self._dimension, self._kind_for(0)), bm25=Bm25Index()
            )
            self._shards[tenant] = shard
        id_arr = np.asarray(ids, dtype=np.int64)
        shard.vectors.add(id_arr, item.vectors)
        shard.bm25.add(id_arr, [s.text for s in item.spans], [collection] * len(ids))
        shard.dirty = True
        return doc

    # --- documents -------------------------------------------------------------------------------

    def get_document(self, tenant: str, document_id: str) -> Document:
        self._require_ready()
        return self.store.get_document(tenant, document_id)

    def get_document_text(self, tenant: str, document_id: str) -> str:
        self._require_ready()
        return self.store.get_document_text(tenant, document_id)

    def list_documents(
        self, tenant: str, *, collection: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Document], int]:
        """One page of the tenant's documents (newest first) and the total matching."""
        self._require_ready()
        return self.store.list_documents(tenant, collection=collection, limit=limit, offset=offset)

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Delete the document and its chunks from the store, then from every index of the tenant."""
        self._require_ready()
        with self._write_lock:
            ids = self.store.delete_document(tenant, document_id)
            shard = self._shards.get(tenant)
            if shard is not None and ids:
                shard.vectors.remove(ids)
                shard.bm25.remove(ids)
                shard.dirty = True

    # --- search ----------------------------------------------------------------------------------

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Embed queries, (N, D) float32 unit rows: lets the HTTP layer batch them across requests."""
        return self.encoder.encode(queries)

    def search(
        self,
        tenant: str,
        query: str,
        *,
        top_k: int,
        collection: str | None = None,
        mode: RetrievalMode | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """The tenant's ``top_k`` best chunks for ``query``, best first.

        ``mode`` defaults to the service's; scores are cosine (dense), BM25 (bm25) or RRF (hybrid).
        ``collection`` restricts the search itself, so k hits come back whenever k chunks match.
        ``query_vector`` is a precomputed (D,) embedding of ``query``; without it the query is encoded.
        """
        self._require_ready()
        mode = self.default_mode if mode is None else RetrievalMode(mode)
        shard = self._shards.get(tenant)
        if shard is None or top_k <= 0 or not query.strip():
            return []
        allowed: np.ndarray | None = None
        if collection is not None and mode is not RetrievalMode.BM25:
            allowed = self.store.chunk_ids(tenant, collection)
            if allowed.size == 0:
                return []

        ranked: list[tuple[int, float]]
        cosine: dict[int, float] = {}  # question<->chunk cosines the dense search already measured
        vec: np.ndarray | None = None
        if mode is RetrievalMode.BM25:
            ids, scores = shard.bm25.search(query, top_k, collection)
            ranked = list(zip(ids.tolist(), scores.tolist(), strict=True))
            if query_vector is not None:
                vec = self._query_vector(query, query_vector)
        else:
            vec = self._query_vector(query, query_vector)
            if mode is RetrievalMode.DENSE:
                ids, scores = shard.vectors.search(vec, top_k, allowed)
                ranked = list(zip(ids.tolist(), scores.tolist(), strict=True))
                cosine = dict(ranked)
            else:
                depth = max(top_k * 4, 50)
                dense_ids, dense_scores = shard.vectors.search(vec, depth, allowed)
                bm25_ids, _ = shard.bm25.search(query, depth, collection)
                ranked = reciprocal_rank_fusion([dense_ids.tolist(), bm25_ids.tolist()], k=self.rrf_k)
                cosine = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
        hits = self._hits(tenant, ranked, top_k)
        return _with_relevance(hits, cosine, shard.vectors, vec)

    def _query_vector(self, query: str, given: np.ndarray | None) -> np.ndarray:
        if given is None:
            return np.asarray(self.encoder.encode([query])[0], dtype=np.float32)
        vec = np.asarray(given, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self._dimension:
            raise ValueError(f"query_vector has {vec.shape[0]} dimensions, expected {self._dimension}")
        return vec

    def _hits(self, tenant: str, ranked: list[tuple[int, float]], top_k: int) -> list[SearchHit]:
        # A few extra ids cover chunks deleted between the index call and this read.
        wanted = ranked[: top_k + 8]
        chunks = self.store.get_chunks(tenant, [i for i, _ in wanted])
        found = [(chunks[i], float(s)) for i, s in wanted if i in chunks][:top_k]
        return [SearchHit(chunk=c, score=s, rank=n) for n, (c, s) in enumerate(found, start=1)]

    # --- stats -----------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for /stats: documents, chunks, vector index kinds and sizes, per tenant."""
        self._require_ready()
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
            "documents": sum(c["documents"] for c in counts.values()),
            "chunks": sum(c["chunks"] for c in counts.values()),
            "vector_index": {
                "setting": self.vector_index,
                "kinds": kinds,
                "size": sum(t["vectors"] for t in tenants.values()),
                "ann_threshold": self.ann_threshold,
            },
            "tenants": tenants,
            "embedding_model": self.encoder.model_name,
            "embedding_dimension": self._dimension,
        }


def _with_relevance(
    hits: list[SearchHit], cosine: dict[int, float], vectors: VectorIndex, query_vector: np.ndarray | None
) -> list[SearchHit]:
    """Each hit with its question<->chunk cosine: from the dense search where it ranked the chunk, else
    from the vector the index stores (a BM25-only hit). Nothing is embedded again."""
    if query_vector is None or not hits:
        return hits
    missing = [h.chunk.id for h in hits if h.chunk.id not in cosine]
    if missing:
        looked_up = vectors.similarity(query_vector, np.asarray(missing, dtype=np.int64))
        found = {i: float(v) for i, v in zip(missing, looked_up.tolist(), strict=True) if not math.isnan(v)}
        cosine = {**cosine, **found}
    return [dataclasses.replace(h, relevance=cosine.get(h.chunk.id)) for h in hits]
