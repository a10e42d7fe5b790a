"""Request and response bodies of the HTTP API, with the examples shown on /docs."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

RetrievalModeName = Literal["dense", "bm25", "hybrid"]
Detail = Literal["short", "normal", "detailed"]
Tone = Literal["neutral", "formal", "friendly"]
AdjustmentName = Literal["correct", "content_rules", "shorten", "citations", "abstain", "style"]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["unsupported_media_type"])
    message: str = Field(examples=["files of type .exe are not supported"])
    request_id: str = Field(examples=["6f1c0e0b3b7d4a8c9f1e2d3c4b5a6978"])


class ErrorResponse(BaseModel):
    """The one error body every route uses."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can answer."""
    return {status: {"model": ErrorResponse} for status in statuses}


# --- names and numbers -----------------------------------------------------------------

MAX_COLLECTION_CHARS = 200
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Largest offset a list request may ask for (SQLite integers stop at 2**63 - 1).
MAX_OFFSET = 1_000_000_000


def canonical_collection(name: str) -> str:
    """The one spelling of a collection name: NFKC-normalised (so "ｄｏｃｓ" is "docs"), then ASCII letters,
    digits, '.', '_' and '-' only, and not '.' or '..' (names that read as paths)."""
    name = unicodedata.normalize("NFKC", name)
    if not 1 <= len(name) <= MAX_COLLECTION_CHARS or not _COLLECTION_NAME.fullmatch(name):
        raise ValueError(
            f"a collection name is 1 to {MAX_COLLECTION_CHARS} letters, digits, '.', '_' or '-' (after NFKC)"
        )
    if name.strip(".") == "":
        raise ValueError("'.' and '..' are not collection names")
    return name


CollectionName = Annotated[str, Field(max_length=4 * MAX_COLLECTION_CHARS), AfterValidator(canonical_collection)]
"""A collection name in a request body, query or form, always in its canonical spelling."""


# --- documents -------------------------------------------------------------------


class DocumentOut(BaseModel):
    id: str = Field(examples=["3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e"])
    source: str = Field(examples=["handbook.pdf"])
    collection: str = Field(examples=["default"])
    sha256: str
    chunks: int = Field(examples=[42])
    characters: int = Field(examples=[18230])
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(examples=[1763870400.0])


class IngestedDocument(DocumentOut):
    deduplicated: bool = Field(examples=[False], description="True when the same bytes were already stored")


class IngestResponse(BaseModel):
    documents: list[IngestedDocument]


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    total: int
    limit: int
    offset: int


class DeleteResponse(BaseModel):
    deleted: str


# --- search ------------------------------------------------------------------------


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "When was the treaty signed?", "top_k": 5}]},
    )

    query: str = Field(min_length=1, max_length=2000, description="What to look for")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="Passages to return")
    collection: CollectionName | None = Field(default=None, description="Only this collection")
    retrieval_mode: RetrievalModeName | None = Field(default=None, description="dense, bm25 or hybrid")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class SearchResult(BaseModel):
    document_id: str
    source: str
    chunk_id: int
    text: str
    score: float
    page: int | None
    start: int
    end: int


class SearchResponse(BaseModel):
    results: list[SearchResult]


# --- ask ---------------------------------------------------------------------------


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "Who founded the company?", "detail": "short"},
                {"question": "Summarise the refund policy.", "detail": "detailed", "tone": "formal"},
            ]
        },
    )

    question: str = Field(min_length=1, description="The question to answer from your documents")
    top_k: int | None = Field(default=None, ge=1, le=1000)
    collection: CollectionName | None = None
    retrieval_mode: RetrievalModeName | None = None
    detail: Detail | None = Field(default=None, description="short: a phrase; normal; detailed")
    tone: Tone | None = None
    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stream: bool = Field(default=False, description="Answer with server-sent events")
    adjustments: dict[AdjustmentName, bool] | None = Field(
        default=None, description="Switch adjustment steps on or off for this request"
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class CitationOut(BaseModel):
    number: int
    document_id: str
    source: str
    page: int | None
    start: int
    end: int
    text: str = Field(description="Exactly the document's extracted text between start and end")


class PassageOut(BaseModel):
    number: int
    document_id: str
    chunk_id: int
    source: str
    page: int | None
    start: int
    end: int
    text: str
    score: float


class SentenceOut(BaseModel):
    text: str
    support: float
    supported: bool
    citations: list[int]


class Timings(BaseModel):
    retrieval_ms: float
    generation_ms: float
    adjust_ms: float


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class AskResponse(BaseModel):
    answer_id: str
    answer: str
    abstained: bool
    support: float = Field(description="Overall support of the answer by the passages, 0..1")
    citations: list[CitationOut]
    sentences: list[SentenceOut]
    passages: list[PassageOut]
    adjustments: list[str]
    detail: Detail
    tone: Tone
    defaults_from_feedback: bool = Field(description="True when the detail level came from collection feedback")
    timings: Timings
    usage: Usage


# --- feedback ----------------------------------------------------------------------


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"answer_id": "a1b2c3", "rating": 1, "preferred_detail": "short"}]},
    )

    answer_id: str = Field(min_length=1, max_length=100)
    rating: Literal[-1, 1] = Field(description="1 for thumbs up, -1 for thumbs down")
    comment: str | None = Field(default=None, max_length=4000)
    preferred_detail: Detail | None = None


class FeedbackResponse(BaseModel):
    recorded: bool
    defaults_changed: bool
    collection_defaults: dict[str, Any]


# --- health ------------------------------------------------------------------------


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    queue: dict[str, Any]
    models: dict[str, Any] | None = Field(default=None, description="Only with an API key")
    index: dict[str, Any] | None = Field(default=None, description="Only with an API key: your own figures")
