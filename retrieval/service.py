"""The retrieval facade: ingest, look up, delete and search documents, per tenant.

It parses, chunks and encodes; where documents are stored and how they are searched is the job of a
``SearchBackend`` (``retrieval.backend``): the embedded one (SQLite + FAISS + BM25) or PostgreSQL with
pgvector. Hybrid search fuses the back end's dense and keyword rankings here, by reciprocal rank fusion.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.backend import NewDocument, SearchBackend
from retrieval.budget import WorkBudget
from retrieval.chunking import TokenChunker
from retrieval.encoder import Encoder
from retrieval.errors import DocumentTooLargeError, EmptyDocumentError, IndexUnavailableError, RetrievalError
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.parsing import ParseLimits, parse_document, safe_filename
from retrieval.types import ChunkSpan, Document, IngestResult, RetrievalMode, SearchHit

logger = logging.getLogger(__name__)

# Chunks embedded per encoder call during ingest: the budget is checked between calls.
_INGEST_ENCODE_SLICE = 64


@dataclass
class _Prepared:
    """A parsed and chunked file waiting to be encoded and stored."""

    source: str
    sha256: str
    text: str
    metadata: dict[str, Any]
    spans: list[ChunkSpan]


class RetrievalService:
    """Documents, chunks and their search for many tenants, over one back end. Thread-safe once loaded."""

    def __init__(
        self,
        *,
        backend: SearchBackend,
        encoder: Encoder,
        chunk_tokens: int = 200,
        chunk_overlap: int = 40,
        parse_limits: ParseLimits | None = None,
        max_chunks_per_document: int = 8_000,
        rrf_k: int = 60,
        default_mode: RetrievalMode = RetrievalMode.HYBRID,
    ) -> None:
        self.backend = backend
        self.encoder = encoder
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.parse_limits = parse_limits
        self.max_chunks_per_document = max_chunks_per_document
        self.rrf_k = rrf_k
        self.default_mode = RetrievalMode(default_mode)
        self._chunker: TokenChunker | None = None
        self._ready = False
        self._dimension = 0

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    def load(self) -> None:
        """Load the encoder, then open the back end for its embeddings (it may re-encode stored chunks)."""
        if self._ready:
            return
        self.encoder.load()
        self._dimension = self.encoder.dimension
        self._chunker = TokenChunker(
            self.encoder.tokenizer,
            chunk_tokens=self.chunk_tokens,
            overlap=self.chunk_overlap,
            max_tokens=self.encoder.max_tokens,
        )
        self.backend.load(self.encoder.model_name, self._dimension, self.encoder.encode)
        self._ready = True

    def close(self) -> None:
        if not self._ready:
            return
        self._ready = False
        self.backend.close()

    def _require_ready(self) -> None:
        if not self._ready:
            raise IndexUnavailableError("the retrieval service is not loaded")

    def ping(self) -> None:
        """Raise ``IndexUnavailableError`` (or its ``StorageUnavailableError``) unless searches can run now."""
        self._require_ready()
        self.backend.ping()

    # --- ingest ----------------------------------------------------------------------------------

    def ingest(
        self,
        *,
        tenant: str,
        collection: str,
        files: Sequence[tuple[str, bytes]],
        metadata: Mapping[str, Any] | None = None,
        budget: WorkBudget | None = None,
    ) -> list[IngestResult]:
        """Parse, chunk, embed and store ``files`` (name, bytes) in ``tenant``/``collection``.

        Every file is parsed, chunked and embedded before anything is stored, so one bad file raises
        its RetrievalError and stores nothing, and so does running out of ``budget`` or its cancellation
        (IngestTimeoutError, IngestCancelledError), which are checked between steps until storing starts.
        Bytes already stored in this tenant+collection are not stored again: that file's result is the
        existing document with ``deduplicated=True``. Returns, in file order, only once the documents are
        durable (committed) and searchable.
        """
        self._require_ready()
        assert self._chunker is not None
        user_meta = dict(metadata or {})
        limits = self.parse_limits if self.parse_limits is not None else ParseLimits()
        budget = budget or WorkBudget()

        # 1. Parse and chunk everything (no lock): errors surface before any write, naming their file.
        plan: list[_Prepared | Document] = []
        for filename, data in files:
            sha = hashlib.sha256(data).hexdigest()
            existing = self.backend.find_by_sha256(tenant, collection, sha)
            if existing is not None:
                plan.append(existing)
                continue
            try:
                parsed = parse_document(filename, data, limits, budget)
                spans = self._chunker.chunk(parsed, budget)
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

        # 2. Encode every new chunk, in slices that stay full across small files.
        todo = [p for p in plan if isinstance(p, _Prepared)]
        texts = [s.text for p in todo for s in p.spans]
        # Encoded in slices so the budget is checked between encoder calls.
        parts = [np.zeros((0, self._dimension), dtype=np.float32)]
        for i in range(0, len(texts), _INGEST_ENCODE_SLICE):
            budget.check()
            parts.append(self.encoder.encode(texts[i : i + _INGEST_ENCODE_SLICE]))
        vectors = np.concatenate(parts)  # (N, D)

        # 3. Store, one document per transaction; the back end deduplicates concurrent copies.
        # No stopping from here on: a last check, then every document is stored.
        budget.check()
        results: list[IngestResult] = []
        start = 0
        for item in plan:
            if isinstance(item, Document):
                results.append(IngestResult(document=item, deduplicated=True))
                continue
            end = start + len(item.spans)
            new = NewDocument(
                document_id=uuid.uuid4().hex,
                tenant=tenant,
                collection=collection,
                source=item.source,
                sha256=item.sha256,
                metadata=item.metadata,
                text=item.text,
                spans=item.spans,
                vectors=vectors[start:end],
            )
            start = end
            self._require_ready()
            results.append(self.backend.add_document(new))
        return results

    # --- documents -------------------------------------------------------------------------------

    def get_document(self, tenant: str, document_id: str) -> Document:
        self._require_ready()
        return self.backend.get_document(tenant, document_id)

    def get_document_text(self, tenant: str, document_id: str) -> str:
        self._require_ready()
        return self.backend.document_text(tenant, document_id)

    def list_documents(
        self, tenant: str, *, collection: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Document], int]:
        """One page of the tenant's documents (newest first) and the total matching."""
        self._require_ready()
        return self.backend.list_documents(tenant, collection=collection, limit=limit, offset=offset)

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Delete the document and its chunks; no search returns them afterwards."""
        self._require_ready()
        self.backend.delete_document(tenant, document_id)

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

        ``mode`` defaults to the service's; scores are cosine (dense), the back end's keyword score
        (bm25) or RRF (hybrid). ``collection`` restricts the search itself, so k hits come back
        whenever k chunks match. ``query_vector`` is a precomputed (D,) embedding of ``query``;
        without it the query is encoded.
        """
        self._require_ready()
        mode = self.default_mode if mode is None else RetrievalMode(mode)
        if top_k <= 0 or not query.strip():
            return []
        cosine: dict[int, float] = {}  # question<->chunk cosines the dense search measured
        if mode is RetrievalMode.BM25:
            hits = self.backend.keyword_search(tenant, query, top_k, collection)
        else:
            vec = self._query_vector(query, query_vector)
            if mode is RetrievalMode.DENSE:
                hits = self.backend.dense_search(tenant, vec, top_k, collection)
                cosine = {h.chunk.id: h.score for h in hits}
            else:
                depth = max(top_k * 4, 50)
                dense = self.backend.dense_search(tenant, vec, depth, collection)
                keyword = self.backend.keyword_search(tenant, query, depth, collection)
                cosine = {h.chunk.id: h.score for h in dense}
                chunks = {h.chunk.id: h.chunk for h in (*dense, *keyword)}
                ids = [[h.chunk.id for h in dense], [h.chunk.id for h in keyword]]
                fused = reciprocal_rank_fusion(ids, k=self.rrf_k)
                hits = [SearchHit(chunk=chunks[i], score=float(s)) for i, s in fused[:top_k]]
        # Ranks 1.. (the prompt's [n]) and each hit's cosine where the dense search measured it.
        return [dataclasses.replace(h, rank=n, relevance=cosine.get(h.chunk.id)) for n, h in enumerate(hits, start=1)]

    def _query_vector(self, query: str, given: np.ndarray | None) -> np.ndarray:
        if given is None:
            return np.asarray(self.encoder.encode([query])[0], dtype=np.float32)
        vec = np.asarray(given, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self._dimension:
            raise ValueError(f"query_vector has {vec.shape[0]} dimensions, expected {self._dimension}")
        return vec

    # --- stats -----------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for /readyz: documents and chunks, in all and per tenant, and the back end's details."""
        self._require_ready()
        return {
            **self.backend.stats(),
            "embedding_model": self.encoder.model_name,
            "embedding_dimension": self._dimension,
        }
