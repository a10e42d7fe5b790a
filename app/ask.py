"""The /ask use case: retrieve, prompt, generate (batched), adjust, remember the answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidRequestError, RequestTimeoutError
from app.feedback import FeedbackStore
from app.pg_feedback import PostgresFeedbackStore
from app.schemas import AskRequest, AskResponse
from app.settings import Settings
from generation.adjustment.pipeline import AdjustmentPipeline
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext, SourcePassage
from generation.engine import Generator
from generation.errors import GenerationTimeoutError
from generation.prompt import PromptBuilder, PromptPassage
from generation.types import GenerationParams, GenerationResult
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode, SearchHit


@dataclass
class AskPlan:
    """Everything resolved from a request before the model runs."""

    tenant: str
    collection: str | None
    question: str
    detail: str
    tone: str
    top_k: int
    mode: RetrievalMode
    params: GenerationParams
    enabled_steps: list[str]
    defaults_from_feedback: bool
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Prepared:
    plan: AskPlan
    hits: list[SearchHit]
    passages: list[SourcePassage]
    messages: list[dict[str, str]]


class AskService:
    def __init__(
        self,
        *,
        settings: Settings,
        retrieval: RetrievalService,
        generator: Generator,
        adjuster: AdjustmentPipeline,
        feedback: FeedbackStore | PostgresFeedbackStore,
        embed_query: Callable[[str], Awaitable[np.ndarray]],
        embed_texts: Callable[[Sequence[str]], np.ndarray],
    ) -> None:
        self.settings = settings
        self.retrieval = retrieval
        self.generator = generator
        self.adjuster = adjuster
        self.feedback = feedback
        self._embed_query = embed_query
        self._embed_texts = embed_texts
        self.prompts = PromptBuilder(generator.count_tokens, generator.context_window)

    # --- planning ------------------------------------------------------------------

    def plan(self, tenant: str, req: AskRequest) -> AskPlan:
        s = self.settings
        if len(req.question) > s.max_question_chars:
            raise InvalidRequestError(
                f"question is {len(req.question)} characters; the limit is {s.max_question_chars}"
            )
        if req.max_new_tokens is not None and req.max_new_tokens > s.max_new_tokens_cap:
            raise InvalidRequestError(f"max_new_tokens {req.max_new_tokens} is over the cap of {s.max_new_tokens_cap}")
        top_k = req.top_k or s.top_k
        if top_k > s.max_top_k:
            raise InvalidRequestError(f"top_k {top_k} is over the limit of {s.max_top_k}")
        collection = req.collection
        detail: str
        from_feedback = False
        if req.detail is not None:
            detail = req.detail
        else:
            learned = self.feedback.collection_defaults(tenant, collection or s.default_collection).detail
            detail, from_feedback = (learned, True) if learned else (s.detail, False)
        enabled: set[str] = set(s.adjustments)
        for name, on in (req.adjustments or {}).items():
            (enabled.add if on else enabled.discard)(name)
        return AskPlan(
            tenant=tenant,
            collection=collection,
            question=req.question.strip(),
            detail=detail,
            tone=req.tone or s.tone,
            top_k=top_k,
            mode=RetrievalMode(req.retrieval_mode or s.retrieval_mode),
            params=GenerationParams(
                max_new_tokens=req.max_new_tokens or _default_new_tokens(detail, s.max_new_tokens),
                temperature=s.temperature if req.temperature is None else req.temperature,
            ),
            enabled_steps=[n for n in self.adjuster.step_names if n in enabled],
            defaults_from_feedback=from_feedback,
        )

    # --- stages --------------------------------------------------------------------

    async def _prepare(self, plan: AskPlan) -> Prepared:
        t0 = time.perf_counter()
        vector = await self._embed_query(plan.question)
        hits, passages = await run_in_threadpool(self._retrieve, plan, vector)
        plan.timings["retrieval_ms"] = (time.perf_counter() - t0) * 1000
        built = self.prompts.build(
            plan.question,
            [PromptPassage(p.number, p.source, p.page, p.text) for p in passages],
            detail=plan.detail,
            tone=plan.tone,
            max_new_tokens=plan.params.max_new_tokens,
        )
        return Prepared(plan, hits, passages[: built.passages_used], built.messages)

    def _retrieve(self, plan: AskPlan, vector: np.ndarray) -> tuple[list[SearchHit], list[SourcePassage]]:
        hits = self.retrieval.search(
            plan.tenant,
            plan.question,
            top_k=plan.top_k,
            collection=plan.collection,
            mode=plan.mode,
            query_vector=vector,
        )
        return hits, (_source_passages(hits, vector, self._embed_texts) if hits else [])

    async def _adjust(self, prepared: Prepared, result: GenerationResult) -> AdjustedAnswer:
        t0 = time.perf_counter()
        ctx = AdjustmentContext(
            question=prepared.plan.question,
            raw_answer=result.text,
            passages=prepared.passages,
            detail=prepared.plan.detail,
            tone=prepared.plan.tone,
            embed=self._embed_texts,
        )
        adjusted = await run_in_threadpool(self.adjuster.run, ctx, prepared.plan.enabled_steps)
        prepared.plan.timings["adjust_ms"] = (time.perf_counter() - t0) * 1000
        return adjusted

    def _finish(self, prepared: Prepared, result: GenerationResult, adjusted: AdjustedAnswer) -> AskResponse:
        plan = prepared.plan
        answer_id = uuid.uuid4().hex
        self.feedback.record_answer(
            answer_id,
            plan.tenant,
            plan.collection or self.settings.default_collection,
            plan.question,
            adjusted.answer,
            plan.detail,
            plan.tone,
        )
        by_chunk = {p.number: h for p, h in zip(prepared.passages, prepared.hits, strict=False)}
        return AskResponse.model_validate(
            {
                "answer_id": answer_id,
                "answer": adjusted.answer,
                "abstained": adjusted.abstained,
                "support": adjusted.support,
                "citations": [_as_dict(c) for c in adjusted.citations],
                "sentences": [
                    {
                        "text": s.text,
                        "support": s.support,
                        "supported": s.supported,
                        "citations": list(s.citations),
                    }
                    for s in adjusted.sentences
                ],
                "passages": [
                    {
                        "number": p.number,
                        "document_id": p.document_id,
                        "chunk_id": by_chunk[p.number].chunk.id,
                        "source": p.source,
                        "page": p.page,
                        "start": p.start,
                        "end": p.end,
                        "text": p.text,
                        "score": p.score,
                    }
                    for p in prepared.passages
                ],
                "adjustments": adjusted.adjustments,
                "detail": plan.detail,
                "tone": plan.tone,
                "defaults_from_feedback": plan.defaults_from_feedback,
                "timings": {
                    "retrieval_ms": round(plan.timings.get("retrieval_ms", 0.0), 2),
                    "generation_ms": round(plan.timings.get("generation_ms", 0.0), 2),
                    "adjust_ms": round(plan.timings.get("adjust_ms", 0.0), 2),
                },
                "usage": {
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                },
            }
        )

    # --- public ----------------------------------------------------------------------

    async def ask(self, plan: AskPlan) -> AskResponse:
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                prepared = await self._prepare(plan)
                t0 = time.perf_counter()
                result = await self.generator.generate(prepared.messages, plan.params)
                plan.timings["generation_ms"] = (time.perf_counter() - t0) * 1000
                adjusted = await self._adjust(prepared, result)
        except TimeoutError as exc:
            raise RequestTimeoutError(f"the answer took longer than {self.settings.request_timeout_s:g} s") from exc
        except GenerationTimeoutError as exc:
            raise RequestTimeoutError(exc.message) from exc
        return self._finish(prepared, result, adjusted)

    async def ask_stream(self, plan: AskPlan) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yields ("token", {"delta"}) events as the model writes, then ("final", AskResponse)."""
        deadline = asyncio.get_running_loop().time() + self.settings.request_timeout_s
        prepared = await self._prepare(plan)
        t0 = time.perf_counter()
        result: GenerationResult | None = None
        stream = self.generator.stream(prepared.messages, plan.params)
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in stream:
                    if chunk.delta:
                        yield "token", {"delta": chunk.delta}
                    if chunk.result is not None:
                        result = chunk.result
        except TimeoutError as exc:
            raise RequestTimeoutError(f"the answer took longer than {self.settings.request_timeout_s:g} s") from exc
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        plan.timings["generation_ms"] = (time.perf_counter() - t0) * 1000
        if result is None:
            raise RequestTimeoutError("generation ended without a result")
        adjusted = await self._adjust(prepared, result)
        yield "final", self._finish(prepared, result, adjusted).model_dump()


def _default_new_tokens(detail: str, configured: int) -> int:
    # A short answer is a phrase: letting the model run on only invites drift.
    return min(configured, 32) if detail == "short" else configured


def _as_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _source_passages(
    hits: list[SearchHit], query_vector: np.ndarray, embed_texts: Callable[[Sequence[str]], np.ndarray]
) -> list[SourcePassage]:
    # Cosine of question and passage, whatever the retrieval mode scored with: the abstention step reads it.
    vectors = embed_texts([h.chunk.text for h in hits])  # (k, D), normalised
    relevance = vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)  # (k,)
    return [
        SourcePassage(
            number=i + 1,
            document_id=h.chunk.document_id,
            source=h.chunk.source,
            page=h.chunk.page,
            start=h.chunk.start,
            end=h.chunk.end,
            text=h.chunk.text,
            score=h.score,
            relevance=float(relevance[i]),
        )
        for i, h in enumerate(hits)
    ]
