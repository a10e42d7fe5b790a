"""The retrieval core: parsing, chunking, embedding, the document store and the search indexes.

The names below are re-exported lazily, so ``import retrieval.errors`` does not pull in faiss,
bm25s or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrieval.backend import SearchBackend
    from retrieval.bm25_index import Bm25Index
    from retrieval.embedded import EmbeddedBackend
    from retrieval.encoder import Encoder, SentenceTransformerEncoder
    from retrieval.fusion import reciprocal_rank_fusion
    from retrieval.service import RetrievalService
    from retrieval.store import DocumentStore
    from retrieval.types import Chunk, Document, IngestResult, RetrievalMode, SearchHit
    from retrieval.vector_index import FaissVectorIndex, VectorIndex

_EXPORTS = {
    "Bm25Index": "retrieval.bm25_index",
    "Chunk": "retrieval.types",
    "Document": "retrieval.types",
    "DocumentStore": "retrieval.store",
    "EmbeddedBackend": "retrieval.embedded",
    "Encoder": "retrieval.encoder",
    "FaissVectorIndex": "retrieval.vector_index",
    "IngestResult": "retrieval.types",
    "RetrievalMode": "retrieval.types",
    "RetrievalService": "retrieval.service",
    "SearchBackend": "retrieval.backend",
    "SearchHit": "retrieval.types",
    "SentenceTransformerEncoder": "retrieval.encoder",
    "VectorIndex": "retrieval.vector_index",
    "reciprocal_rank_fusion": "retrieval.fusion",
}

__all__ = [
    "Bm25Index",
    "Chunk",
    "Document",
    "DocumentStore",
    "EmbeddedBackend",
    "Encoder",
    "FaissVectorIndex",
    "IngestResult",
    "RetrievalMode",
    "RetrievalService",
    "SearchBackend",
    "SearchHit",
    "SentenceTransformerEncoder",
    "VectorIndex",
    "reciprocal_rank_fusion",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
