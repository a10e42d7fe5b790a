"""The grounding model in the service: reranking, reading and claim verification, batched across requests.

Every call becomes a job of (question or claim, passage) pairs; concurrent jobs share one model pass through a
``DynamicBatcher``, as query embeddings do. ``grounding`` imports neither ``retrieval`` nor ``generation``; this
module is where the three meet.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence

import anyio.from_thread
import numpy as np

from generation.batching import DynamicBatcher
from grounding import GroundingReader, PairScores, ReadResult, verify_from, verify_pairs
from retrieval.types import SearchHit

Job = tuple[tuple[str, ...], tuple[str, ...]]  # (firsts, passages), one pair per index
Pair = tuple[str, str]
RRF_K = 60  # reciprocal-rank fusion's usual constant; the choice of k hardly mattered (docs/evaluation.md)


class GroundingService:
    """Owns the reader and its batcher. ``load()`` (blocking) then ``start()`` before use."""

    def __init__(
        self,
        reader: GroundingReader,
        *,
        rerank_candidates: int,
        retrieval_weight: float = 0.5,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        cache_pairs: int = 2048,
    ) -> None:
        self.reader = reader
        self.rerank_candidates = rerank_candidates
        self.retrieval_weight = retrieval_weight
        # The reader reads the passages that reranking has just scored for the same question: the scores are
        # kept (a bounded LRU keyed by the exact texts, used only on the event loop), so no pair runs twice.
        self.cache_pairs = cache_pairs
        self._cache: OrderedDict[Pair, PairScores] = OrderedDict()
        self.batcher: DynamicBatcher[Job, list[PairScores]] = DynamicBatcher(
            self._process,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            name="grounding",
        )

    @property
    def threshold(self) -> float:
        return self.reader.calibration.threshold

    def load(self) -> None:
        self.reader.load()

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()

    def _process(self, jobs: list[Job]) -> list[list[PairScores]]:
        firsts = [f for job in jobs for f in job[0]]
        passages = [p for job in jobs for p in job[1]]
        scores = self.reader.score_pairs(firsts, passages)
        out, at = [], 0
        for job in jobs:
            out.append(scores[at : at + len(job[0])])
            at += len(job[0])
        return out

    async def _score(self, firsts: Sequence[str], passages: Sequence[str]) -> list[PairScores]:
        pairs = list(zip(firsts, passages, strict=True))
        known = {pair: self._cache[pair] for pair in pairs if pair in self._cache}  # held across the await
        missing = [pair for pair in dict.fromkeys(pairs) if pair not in known]
        if missing:
            fresh = await self.batcher.submit((tuple(f for f, _ in missing), tuple(p for _, p in missing)))
            known.update(zip(missing, fresh, strict=True))
        for pair in dict.fromkeys(pairs):
            self._cache[pair] = known[pair]
            self._cache.move_to_end(pair)
        while len(self._cache) > self.cache_pairs:
            self._cache.popitem(last=False)
        return [known[pair] for pair in pairs]

    async def rerank(self, question: str, hits: Sequence[SearchHit], top_k: int) -> list[SearchHit]:
        """The ``top_k`` hits, best first, re-ranked 1.. with ``rerank_score`` (the model's support logit) set.

        The order fuses the model's order with retrieval's by reciprocal rank, retrieval weighted by
        ``retrieval_weight`` (0: the model's order alone); ``hits`` come in retrieval's order.
        """
        scores = await self._score([question] * len(hits), [h.text for h in hits])
        by_model = sorted(range(len(hits)), key=lambda i: scores[i].best_support, reverse=True)
        model_rank = {i: rank for rank, i in enumerate(by_model, start=1)}
        fused = {i: self.retrieval_weight / (RRF_K + i + 1) + 1 / (RRF_K + model_rank[i]) for i in range(len(hits))}
        order = sorted(fused, key=lambda i: (-fused[i], model_rank[i]))[:top_k]
        return [
            dataclasses.replace(hits[i], rank=rank, rerank_score=round(float(scores[i].best_support), 4))
            for rank, i in enumerate(order, start=1)
        ]

    async def read(self, question: str, passages: Sequence[str]) -> ReadResult:
        """Answer spans and calibrated answerability over ``passages`` (in prompt order)."""
        return self.reader.read_from(await self._score([question] * len(passages), passages), passages)

    def verify_blocking(self, question: str, claims: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """``verify`` for code running in a worker thread (the adjustment stage): waits on the batcher."""
        firsts, texts = verify_pairs(question, claims, passages)

        async def run() -> list[PairScores]:
            return await self._score(firsts, texts)

        scores = anyio.from_thread.run(run)
        return verify_from(scores, len(claims), len(passages))
