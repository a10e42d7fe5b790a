"""OpenAI-compatible API: ``/v1/chat/completions``, ``/v1/models``, ``/v1/embeddings``.

Point any OpenAI client at ``<server>/v1`` with your API key as the client's key.

Chat completions take one of two paths, chosen by ``model``:

* ``"rag"`` (or any id but the generator's own, so clients with a hard-coded model name work): the
  **last user message** is the question, answered exactly as ``POST /ask`` answers it: retrieval,
  generation, then the adjustment stage. Earlier turns and system messages are not read. The reply's
  ``content`` is the adjusted answer; extra top-level fields carry ``citations``, ``abstained`` and
  ``answer_id`` (for ``POST /feedback``).
* the generator's own id (listed by ``GET /v1/models`` with ``kind: chat``): the whole conversation
  goes to the generator as is, with no retrieval and no adjustment. That makes this service usable as
  another instance's remote generator backend (``RAG_GENERATOR_BACKEND=openai``).

Streaming (``stream: true``) sends ``data: {chat.completion.chunk}`` events: one with the assistant
role, then the content deltas, then one with ``finish_reason`` and ``usage``, then ``data: [DONE]``.
On the retrieval-augmented path the content is **the adjusted answer**, exactly: the adjustment stage
may rewrite the whole draft (an abstention replaces it, ``detail: short`` cuts it to a phrase), so the
text is sent once it has been checked, and the deltas joined equal the non-streamed ``content``. Until
then the stream carries SSE comments (``: retrieving``, ``: generating``, ``: checking``), which clients
skip. The final chunk also carries ``answer`` (the same text), ``citations``, ``abstained`` and
``answer_id``. An error after the stream has started arrives in-band as ``data: {"error": {...}}``
(what OpenAI's clients raise from).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from app import openapi_examples as ex
from app.ask import AskPlan, AskService, Progress
from app.container import Services
from app.deps import ServicesDep, TenantDep
from app.errors import InvalidRequestError, RequestTimeoutError
from app.openai_schemas import (
    DONE,
    RAG_MODEL,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    ChunkDelta,
    CompletionUsage,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelCard,
    ModelList,
    completion_id,
    now,
    rag_finish_reason,
)
from app.routes.ask import until_disconnected
from app.schemas import check_new_tokens, error_responses
from app.sse import comment, event_stream
from generation.engine import Generator
from generation.types import GenerationParams

router = APIRouter(prefix="/v1", tags=["openai"])

_STARTED = now()

_STREAM_DOC = {
    "description": "With `stream: true`: `data: {chat.completion.chunk}` server-sent events, then `data: [DONE]`.",
    "content": {"text/event-stream": {"example": ex.CHAT_STREAM}},
}


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**error_responses(401, 422, 429, 502, 503, 504), 200: _STREAM_DOC},
)
async def chat_completions(
    req: ChatCompletionRequest, request: Request, services: ServicesDep, tenant: TenantDep
) -> Any:
    """OpenAI-compatible chat completion, answered from your documents (model "rag") or by the bare generator."""
    generator, ask_service = services.generator, services.ask
    assert generator is not None and ask_service is not None
    if req.model != RAG_MODEL and req.model == generator.model_name:
        messages, params = req.chat_messages(), _plain_params(req, services)
        if req.stream:
            return event_stream(request, _plain_chunks(generator, req.model, messages, params, services))
        async with _deadline(services):
            result = await until_disconnected(request, generator.generate(messages, params))
        return JSONResponse(ChatCompletion.from_result(req.model, result).body())
    plan = _rag_plan(ask_service, tenant, req)
    if req.stream:
        return event_stream(request, _rag_chunks(ask_service, req.model, plan))
    answer = await until_disconnected(request, ask_service.ask(plan))
    return JSONResponse(ChatCompletion.from_answer(req.model, answer, plan.params.max_new_tokens).body())


@router.get("/models", response_model=ModelList, responses=error_responses(401, 503))
async def list_models(services: ServicesDep, tenant: TenantDep) -> ModelList:
    """The models this server answers with: "rag", the bare generator, and the embedding model."""
    assert services.generator is not None
    return ModelList(
        data=[
            ModelCard(id=RAG_MODEL, created=_STARTED, kind="rag"),
            ModelCard(id=services.generator.model_name, created=_STARTED, kind="chat"),
            ModelCard(id=services.settings.embedding_model, created=_STARTED, kind="embedding"),
        ]
    )


@router.post("/embeddings", response_model=EmbeddingResponse, responses=error_responses(401, 422, 503))
async def embeddings(req: EmbeddingRequest, services: ServicesDep, tenant: TenantDep) -> EmbeddingResponse:
    """OpenAI-compatible embeddings from the service's encoder (unit-length vectors)."""
    encoder = services.encoder
    assert encoder is not None
    if req.dimensions is not None and req.dimensions != encoder.dimension:
        raise InvalidRequestError(f"dimensions must be {encoder.dimension} (the encoder's size) or left out")
    vectors, tokens = await run_in_threadpool(_embed, services, req.input)
    return EmbeddingResponse.build(services.settings.embedding_model, vectors, tokens, req.encoding_format)


# --- helpers -------------------------------------------------------------------------


def _embed(services: Services, texts: list[str]) -> tuple[Any, int]:
    encoder = services.encoder
    assert encoder is not None
    ids = encoder.tokenizer(texts, truncation=True, max_length=encoder.max_tokens)["input_ids"]
    return services.embed_texts(texts), sum(len(x) for x in ids)


def _rag_plan(service: AskService, tenant: str, req: ChatCompletionRequest) -> AskPlan:
    try:
        ask_request = req.to_ask_request()
    except ValidationError as exc:
        raise InvalidRequestError(str(exc.errors()[0].get("msg", "invalid request"))) from exc
    plan = service.plan(tenant, ask_request)
    if req.top_p is not None:
        plan.params = dataclasses.replace(plan.params, top_p=req.top_p)
    return plan


def _plain_params(req: ChatCompletionRequest, services: Services) -> GenerationParams:
    s = services.settings
    check_new_tokens("max_tokens", req.new_tokens(), s)
    return GenerationParams(
        max_new_tokens=req.new_tokens() or s.max_new_tokens,
        temperature=s.temperature if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
    )


@asynccontextmanager
async def _deadline(services: Services) -> AsyncIterator[None]:
    """``asyncio.timeout`` that reports running out as the app's 504."""
    seconds = services.settings.request_timeout_s
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise RequestTimeoutError(f"the answer took longer than {seconds:g} s") from exc


def _chunk(cid: str, model: str, delta: ChunkDelta, finish_reason: str | None = None, **extra: Any) -> ServerSentEvent:
    choice = ChunkChoice(delta=delta, finish_reason=finish_reason)
    return ChatCompletionChunk(id=cid, created=now(), model=model, choices=[choice], **extra).sse()


async def _rag_chunks(service: AskService, model: str, plan: AskPlan) -> AsyncIterator[ServerSentEvent]:
    cid = completion_id()
    yield _chunk(cid, model, ChunkDelta(role="assistant", content=""))
    async for item in service.ask_stream(plan):
        if isinstance(item, Progress):
            yield comment(item.stage)
            continue
        if item.answer:
            yield _chunk(cid, model, ChunkDelta(content=item.answer))
        u = item.usage
        yield _chunk(
            cid,
            model,
            ChunkDelta(),
            rag_finish_reason(u.completion_tokens, plan.params.max_new_tokens),
            usage=CompletionUsage.of(u.prompt_tokens, u.completion_tokens),
            answer=item.answer,
            citations=item.citations,
            abstained=item.abstained,
            answer_id=item.answer_id,
        )
    yield DONE


async def _plain_chunks(
    generator: Generator, model: str, messages: list[dict[str, str]], params: GenerationParams, services: Services
) -> AsyncIterator[ServerSentEvent]:
    cid = completion_id()
    yield _chunk(cid, model, ChunkDelta(role="assistant", content=""))
    stream = generator.stream(messages, params)
    try:
        async with _deadline(services):
            async for piece in stream:
                if piece.delta:
                    yield _chunk(cid, model, ChunkDelta(content=piece.delta))
                if piece.result is not None:
                    r = piece.result
                    usage = CompletionUsage.of(r.prompt_tokens, r.completion_tokens)
                    yield _chunk(cid, model, ChunkDelta(), r.finish_reason, usage=usage)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    yield DONE
