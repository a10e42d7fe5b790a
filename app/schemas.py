"""Request and response bodies of the HTTP API, with the examples shown on /docs."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app import openapi_examples as ex
from app.errors import InvalidRequestError
from app.settings import AdjustmentName, Settings
from generation.types import GenerationParams

if TYPE_CHECKING:
    from generation.adjustment.types import Citation, SentenceSupport
    from retrieval.types import SearchHit

RetrievalModeName = Literal["dense", "bm25", "hybrid"]
Detail = Literal["short", "normal", "detailed"]
Tone = Literal["neutral", "formal", "friendly"]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["unsupported_media_type"])
    message: str = Field(examples=["files of type .exe are not supported"])
    request_id: str = Field(examples=["6f1c0e0b3b7d4a8c9f1e2d3c4b5a6978"])


class ErrorResponse(BaseModel):
    """The one error body every route uses."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can answer, each with an example.

    422 is always listed: any route with a parameter or a body answers it (in this body, not FastAPI's own).
    """
    return {
        status: {"model": ErrorResponse, "content": {"application/json": {"example": ex.error_example(status)}}}
        for status in sorted({*statuses, 422})
    }


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
    model_config = ConfigDict(json_schema_extra={"examples": [ex.DOCUMENT]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [ex.INGEST_RESPONSE]})

    documents: list[IngestedDocument]


class DocumentList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.DOCUMENT_LIST]})

    documents: list[DocumentOut]
    total: int
    limit: int
    offset: int


class DeleteResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"deleted": "3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e"}]})

    deleted: str = Field(description="Id of the deleted document")


class DocumentText(BaseModel):
    """A range of a document's extracted text: the text that citations' `start` and `end` point into."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "document_id": "3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e",
                    "source": "handbook.pdf",
                    "start": 120,
                    "end": 180,
                    "characters": 18230,
                    "text": "Refunds are paid within 14 days of the returned item arriving.",
                }
            ]
        }
    )

    document_id: str
    source: str
    start: int = Field(description="Offset of the first character returned")
    end: int = Field(description="Offset just past the last character returned (`end - start` characters)")
    characters: int = Field(description="Length of the document's whole extracted text")
    text: str = Field(description="The document's extracted text between start and end")


# --- search ------------------------------------------------------------------------


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "When was the treaty signed?", "top_k": 5}]},
    )

    query: str = Field(min_length=1, max_length=2000, description="What to look for")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="Passages to return")
    collection: CollectionName | None = Field(
        default=None, description="Only this collection; omitted: every collection"
    )
    retrieval_mode: RetrievalModeName | None = Field(default=None, description="dense, bm25 or hybrid")
    rerank: bool | None = Field(
        default=None, description="Rerank the candidates with the grounding model (default: RAG_RERANK)"
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    def retrieval_top_k(self, settings: Settings) -> int:
        """``top_k`` or the default; ``InvalidRequestError`` (422) when over ``max_top_k``."""
        return _top_k(self.top_k, settings)


def _top_k(requested: int | None, settings: Settings) -> int:
    top_k = requested or settings.top_k
    if top_k > settings.max_top_k:
        raise InvalidRequestError(f"top_k {top_k} is over the limit of {settings.max_top_k}")
    return top_k


class SearchResult(BaseModel):
    document_id: str
    source: str
    chunk_id: int
    text: str
    score: float = Field(description="The retrieval mode's score: cosine, BM25 or reciprocal rank fusion")
    rerank_score: float | None = Field(
        default=None, description="The grounding model's support logit, when the results were reranked"
    )
    page: int | None
    start: int
    end: int


class SearchResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.SEARCH_RESPONSE]})

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
    collection: CollectionName | None = Field(
        default=None,
        description="Search only this collection (and use its feedback defaults); omitted: every collection",
    )
    retrieval_mode: RetrievalModeName | None = None
    rerank: bool | None = Field(
        default=None, description="Rerank retrieved passages with the grounding model (default: RAG_RERANK)"
    )
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

    # The limits below come from the settings, which the request body cannot see while it is parsed; the
    # service calls ``check_limits`` first, so they are checked here and nowhere else.

    def check_limits(self, settings: Settings) -> None:
        """Raise ``InvalidRequestError`` (422) when the request is over one of the configured limits."""
        if len(self.question) > settings.max_question_chars:
            raise InvalidRequestError(
                f"question is {len(self.question)} characters; the limit is {settings.max_question_chars}"
            )
        check_new_tokens("max_new_tokens", self.max_new_tokens, settings)
        self.retrieval_top_k(settings)

    def retrieval_top_k(self, settings: Settings) -> int:
        """``top_k`` or the default; ``InvalidRequestError`` (422) when over ``max_top_k``."""
        return _top_k(self.top_k, settings)

    def generation_options(self, settings: Settings, detail: str) -> GenerationParams:
        # A short answer is a phrase: letting the model run on only invites drift.
        default = min(settings.max_new_tokens, 32) if detail == "short" else settings.max_new_tokens
        return GenerationParams(
            max_new_tokens=self.max_new_tokens or default,
            temperature=settings.temperature if self.temperature is None else self.temperature,
        )


def check_new_tokens(field: str, value: int | None, settings: Settings) -> None:
    """The one check of a requested answer length against ``max_new_tokens_cap``."""
    if value is not None and value > settings.max_new_tokens_cap:
        raise InvalidRequestError(f"{field} {value} is over the cap of {settings.max_new_tokens_cap}")


class CitationOut(BaseModel):
    number: int
    document_id: str
    source: str
    page: int | None
    start: int
    end: int
    text: str = Field(description="Exactly the document's extracted text between start and end")

    @classmethod
    def of(cls, c: Citation) -> CitationOut:
        return cls(
            number=c.number,
            document_id=c.document_id,
            source=c.source,
            page=c.page,
            start=c.start,
            end=c.end,
            text=c.text,
        )


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

    @classmethod
    def of(cls, hit: SearchHit) -> PassageOut:
        return cls(
            number=hit.rank,
            document_id=hit.document_id,
            chunk_id=hit.chunk.id,
            source=hit.source,
            page=hit.page,
            start=hit.start,
            end=hit.end,
            text=hit.text,
            score=hit.score,
        )


class SentenceOut(BaseModel):
    text: str
    support: float
    supported: bool
    citations: list[int]

    @classmethod
    def of(cls, s: SentenceSupport) -> SentenceOut:
        return cls(text=s.text, support=s.support, supported=s.supported, citations=list(s.citations))


class Timings(BaseModel):
    retrieval_ms: float
    generation_ms: float
    adjust_ms: float


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class AskResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.ASK_RESPONSE]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [ex.FEEDBACK_RESPONSE]})

    recorded: bool
    defaults_changed: bool
    collection_defaults: dict[str, Any]


# --- health ------------------------------------------------------------------------


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.HEALTH]})

    status: str


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.READINESS]})

    ready: bool
    queue: dict[str, Any]
    models: dict[str, Any] | None = Field(default=None, description="Only with an API key")
    index: dict[str, Any] | None = Field(default=None, description="Only with an API key: your own figures")
