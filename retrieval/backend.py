"""The seam between the retrieval facade and where documents live and are searched.

Two back ends implement ``SearchBackend``: ``retrieval.embedded.EmbeddedBackend`` (SQLite, per-tenant
FAISS and BM25 in memory, one process) and ``retrieval.postgres.backend.PostgresBackend`` (PostgreSQL
with pgvector, shared by any number of stateless replicas). ``RetrievalService`` parses, chunks and
encodes, then talks only to this Protocol, so nothing above it knows which one it runs on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from retrieval.types import ChunkSpan, Document, IngestResult, SearchHit

Encode = Callable[[Sequence[str]], np.ndarray]
"""Texts to (N, D) float32 unit rows: what a back end calls to re-encode stored chunks."""


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A parsed, chunked and encoded file, ready to be stored in one transaction."""

    document_id: str
    tenant: str
    collection: str
    source: str
    sha256: str
    metadata: dict[str, Any]
    text: str
    spans: Sequence[ChunkSpan]
    vectors: np.ndarray  # (len(spans), D) float32 unit rows


class SearchBackend(Protocol):
    """Documents, chunks and their search, for many tenants. Implementations are thread-safe.

    Every read, search and delete is scoped by ``tenant``; a document of another tenant does not exist.
    Storage that cannot be reached raises ``StorageUnavailableError`` (a 503 with Retry-After).
    """

    @property
    def name(self) -> str:
        """ "embedded" or "postgres": for /readyz and logs only."""
        ...

    def load(self, model_name: str, dimension: int, encode: Encode) -> None:
        """Open the storage and make it searchable with embeddings of ``model_name`` (``dimension``-d)."""
        ...

    def close(self) -> None: ...

    def ping(self) -> None:
        """Raise ``StorageUnavailableError`` if the storage cannot answer right now."""
        ...

    def find_by_sha256(self, tenant: str, collection: str, sha256: str) -> Document | None: ...

    def add_document(self, new: NewDocument) -> IngestResult:
        """Store ``new`` and its chunks durably and make them searchable before returning.

        When the same bytes (``sha256``) are already stored in the tenant and collection, nothing is
        stored and the result is the existing document with ``deduplicated=True``. This holds for
        concurrent callers too: the storage enforces it, not a check before the write.
        """
        ...

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Delete the document and its chunks in one transaction (``DocumentNotFoundError`` if absent)."""
        ...

    def get_document(self, tenant: str, document_id: str) -> Document: ...

    def document_text(self, tenant: str, document_id: str) -> str:
        """The document's extracted text, as stored (chunk offsets index into it)."""
        ...

    def list_documents(
        self, tenant: str, *, collection: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Document], int]:
        """One page of the tenant's documents, newest first, and the total matching."""
        ...

    def dense_search(self, tenant: str, vector: np.ndarray, k: int, collection: str | None) -> list[SearchHit]:
        """The ``k`` chunks with the largest inner product with ``vector`` (D,), best first.

        ``collection`` filters inside the search: k hits come back whenever k chunks match.
        """
        ...

    def keyword_search(self, tenant: str, query: str, k: int, collection: str | None) -> list[SearchHit]:
        """The ``k`` best lexical matches (at least one query term in common), best first."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counts for /readyz: documents and chunks in all and per tenant, and back-end details."""
        ...
