"""Plain data carried between the retrieval modules.

Character offsets (``start``/``end``) always index into the document's
*extracted text* as stored, so ``text[start:end]`` quotes the source exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RetrievalMode(StrEnum):
    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class PageSpan:
    """One page of a paged format: text[start:end] came from page ``page`` (1-based)."""

    page: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """What a parser extracts. ``pages`` is empty for formats without pages."""

    text: str
    pages: tuple[PageSpan, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """A chunk before it is stored: text == document_text[start:end]."""

    text: str
    start: int
    end: int
    page: int | None


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    tenant: str
    collection: str
    source: str
    sha256: str
    metadata: dict[str, Any]
    created_at: float
    chunk_count: int
    char_count: int

    @classmethod
    def from_row(cls, row: Sequence[Any], metadata: dict[str, Any]) -> Document:
        """From a row of (id, tenant, collection, source, sha256, metadata, created_at, chunk_count, char_count),
        as the stores select; ``metadata`` is row[5] already decoded (the stores keep it in different types)."""
        return cls(
            id=row[0],
            tenant=row[1],
            collection=row[2],
            source=row[3],
            sha256=row[4],
            metadata=metadata,
            created_at=float(row[6]),
            chunk_count=int(row[7]),
            char_count=int(row[8]),
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    id: int
    document_id: str
    tenant: str
    collection: str
    source: str
    text: str
    start: int
    end: int
    page: int | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Chunk:
        """From a row of (id, document_id, tenant, collection, source, text, start, end, page), as the stores select."""
        return cls(
            id=int(row[0]),
            document_id=row[1],
            tenant=row[2],
            collection=row[3],
            source=row[4],
            text=row[5],
            start=int(row[6]),
            end=int(row[7]),
            page=None if row[8] is None else int(row[8]),
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result, and the one passage type of ``/ask`` from retrieval to the answer.

    ``generation`` never imports this module: it declares what it reads from a passage as the
    ``generation.types.Passage`` Protocol (``rank``, ``document_id``, ``source``, ``page``, ``start``,
    ``end``, ``text``, ``relevance``), and a hit satisfies it structurally, so ``app/`` hands the hits
    to the prompt builder and the adjustment stage as they are, and converts them once, to the
    response body.
    """

    chunk: Chunk
    score: float  # cosine (dense), BM25 (bm25) or RRF (hybrid), as the mode ranked by
    rank: int = 0  # 1-based position in its result list (0: not ranked yet); the prompt shows it as "[rank]"
    relevance: float | None = None  # cosine of question and chunk vector whatever the mode, when known
    rerank_score: float | None = None  # the reranker's score, when the hit was reranked

    @property
    def document_id(self) -> str:
        return self.chunk.document_id

    @property
    def source(self) -> str:
        return self.chunk.source

    @property
    def page(self) -> int | None:
        return self.chunk.page

    @property
    def start(self) -> int:
        return self.chunk.start

    @property
    def end(self) -> int:
        return self.chunk.end

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True, slots=True)
class IngestResult:
    document: Document
    deduplicated: bool
