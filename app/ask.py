"""The /ask use case: retrieve, prompt, generate (batched), adjust, remember the answer.

One path for every route: ``ask`` runs the stages under ``RAG_REQUEST_TIMEOUT_S`` and returns the
``AskResponse``; ``ask_stream`` runs the same ``ask`` and reports its progress while it does, so what a
stream sends as text is the adjusted answer, never the model's draft (an adjustment step may rewrite
the whole draft: abstain replaces it, shorten cuts it to a phrase). Passages are the retrieval's
``SearchHit``s from the search to the response (see ``generation.types.Passage``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidRequestError, RequestTimeoutError
from app.feedback import FeedbackStore
from app.grounding import GroundingService
from app.pg_feedback import PostgresFeedbackStore
from app.schemas import (
    AskRequest,
    AskResponse,
    CitationOut,
    Detail,
    PassageOut,
    SentenceOut,
    Timings,
    Tone,
    Usage,
)
from app.settings import Settings
from generation.adjustment.pipeline import AdjustmentPipeline
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext
from generation.engine import Generator
from generation.errors import GenerationTimeoutError
from generation.prompt import PromptBuilder
from generation.types import GenerationParams, GenerationResult
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode, SearchHit

Stage = Literal["retrieving", "generating", "checking"]


@dataclass(frozen=True)
class Progress:
    """A stage of an answer has begun: what a stream shows while the answer is not ready yet."""

    stage: Stage


@dataclass
class AskPlan:
    """Everything resolved from a request before the model runs."""

    tenant: str
    collection: str | None
    question: str
    detail: Detail
    tone: Tone
    top_k: int
    mode: RetrievalMode
    rerank: bool
    params: GenerationParams
    enabled_steps: list[str]
    defaults_from_feedback: bool
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Prepared:
    plan: AskPlan
    passages: list[SearchHit]  # the ones in the prompt, in rank order
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
        grounding: GroundingService | None = None,
    ) -> None:
        self.settings = settings
        self.retrieval = retrieval
        self.generator = generator
        self.adjuster = adjuster
        self.feedback = feedback
        self._embed_query = embed_query
        self._embed_texts = embed_texts
        self.grounding = grounding
        self.prompts = PromptBuilder(generator.count_tokens, generator.context_window)

    # --- planning ------------------------------------------------------------------

    def plan(self, tenant: str, req: AskRequest) -> AskPlan:
        s = self.settings
        req.check_limits(s)
        tokens = self.generator.count_tokens(req.question)
        if tokens > s.max_question_tokens:
            raise InvalidRequestError(
                f"question is {tokens} tokens of the generator; the limit is {s.max_question_tokens}"
            )
        detail: Detail
        from_feedback = False
        if req.detail is not None:
            detail = req.detail
        else:
            learned = self.feedback.collection_defaults(tenant, req.collection or s.default_collection).detail
            # Stored from a validated FeedbackRequest, so one of the Detail values.
            detail, from_feedback = (cast(Detail, learned), True) if learned else (s.detail, False)
        enabled: set[str] = set(s.adjustments)
        for name, on in (req.adjustments or {}).items():
            (enabled.add if on else enabled.discard)(name)
        return AskPlan(
            tenant=tenant,
            collection=req.collection,
            question=req.question.strip(),
            detail=detail,
            tone=req.tone or s.tone,
            top_k=req.retrieval_top_k(s),
            mode=RetrievalMode(req.retrieval_mode or s.retrieval_mode),
            rerank=s.rerank if req.rerank is None else req.rerank,
            params=req.generation_options(s, detail),
            enabled_steps=[n for n in self.adjuster.step_names if n in enabled],
            defaults_from_feedback=from_feedback,
        )

    # --- public ----------------------------------------------------------------------

    async def ask(self, plan: AskPlan, on_progress: Callable[[Progress], object] | None = None) -> AskResponse:
        """The adjusted answer. Every stage runs under ``request_timeout_s``; ``on_progress`` hears each begin."""
        report = on_progress or (lambda _: None)
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                report(Progress("retrieving"))
                prepared = await self._prepare(plan)
                report(Progress("generating"))
                t0 = time.perf_counter()
                result = await self.generator.generate(prepared.messages, plan.params)
                plan.timings["generation_ms"] = (time.perf_counter() - t0) * 1000
                report(Progress("checking"))
                adjusted = await self._adjust(prepared, result)
        except TimeoutError as exc:
            raise RequestTimeoutError(f"the answer took longer than {self.settings.request_timeout_s:g} s") from exc
        except GenerationTimeoutError as exc:
            raise RequestTimeoutError(exc.message) from exc
        return self._finish(prepared, result, adjusted)

    async def ask_stream(self, plan: AskPlan) -> AsyncIterator[Progress | AskResponse]:
        """``Progress`` as each stage of ``ask`` begins, then its ``AskResponse``; errors are raised.

        Closing the iterator (a client that went away) cancels the answer, and with it its batch slot.
        """
        progress: asyncio.Queue[Progress] = asyncio.Queue()
        task = asyncio.ensure_future(self.ask(plan, progress.put_nowait))
        getter: asyncio.Future[Progress] | None = None
        try:
            while not task.done() or not progress.empty():
                getter = asyncio.ensure_future(progress.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            yield task.result()
        finally:
            task.cancel()
            if getter is not None:
                getter.cancel()

    # --- stages --------------------------------------------------------------------

    async def search(
        self,
        tenant: str,
        query: str,
        *,
        top_k: int,
        collection: str | None,
        mode: RetrievalMode,
        rerank: bool,
    ) -> list[SearchHit]:
        """The top ``top_k`` passages; with ``rerank``, the grounding model reorders retrieval's top N first."""
        rerank = rerank and self.grounding is not None
        candidates = max(top_k, self.grounding.rerank_candidates) if rerank and self.grounding else top_k
        vector = await self._embed_query(query) if mode is not RetrievalMode.BM25 else None
        hits = await run_in_threadpool(
            self.retrieval.search,
            tenant,
            query,
            top_k=candidates,
            collection=collection,
            mode=mode,
            query_vector=vector,
        )
        if rerank and self.grounding is not None and hits:
            return await self.grounding.rerank(query, hits, top_k)
        return hits[:top_k]

    async def _prepare(self, plan: AskPlan) -> Prepared:
        t0 = time.perf_counter()
        hits = await self.search(
            plan.tenant, plan.question, top_k=plan.top_k, collection=plan.collection, mode=plan.mode, rerank=plan.rerank
        )
        plan.timings["retrieval_ms"] = (time.perf_counter() - t0) * 1000
        built = self.prompts.build(
            plan.question, hits, detail=plan.detail, tone=plan.tone, max_new_tokens=plan.params.max_new_tokens
        )
        return Prepared(plan, hits[: built.passages_used], built.messages)

    async def _adjust(self, prepared: Prepared, result: GenerationResult) -> AdjustedAnswer:
        t0 = time.perf_counter()
        plan = prepared.plan
        reading, verify, threshold = None, None, 0.5
        if self.grounding is not None and "reader" in plan.enabled_steps and prepared.passages:
            reading = await self.grounding.read(plan.question, [p.text for p in prepared.passages])
            threshold = self.grounding.threshold
            if self.settings.verify_threshold > 0:
                verify = self.grounding.verify_blocking
        ctx = AdjustmentContext(
            question=prepared.plan.question,
            raw_answer=result.text,
            passages=prepared.passages,
            detail=prepared.plan.detail,
            tone=prepared.plan.tone,
            embed=self._embed_texts,
            reading=reading,
            reader_threshold=threshold,
            verify=verify,
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
        return AskResponse(
            answer_id=answer_id,
            answer=adjusted.answer,
            abstained=adjusted.abstained,
            support=adjusted.support,
            citations=[CitationOut.of(c) for c in adjusted.citations],
            sentences=[SentenceOut.of(s) for s in adjusted.sentences],
            passages=[PassageOut.of(p) for p in prepared.passages],
            adjustments=adjusted.adjustments,
            detail=plan.detail,
            tone=plan.tone,
            defaults_from_feedback=plan.defaults_from_feedback,
            timings=Timings(
                retrieval_ms=round(plan.timings.get("retrieval_ms", 0.0), 2),
                generation_ms=round(plan.timings.get("generation_ms", 0.0), 2),
                adjust_ms=round(plan.timings.get("adjust_ms", 0.0), 2),
            ),
            usage=Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
        )
