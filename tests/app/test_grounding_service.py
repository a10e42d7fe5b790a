"""GroundingService over the real grounding model: the reader reuses what reranking scored, within a bound."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from app.grounding import GroundingService
from retrieval.types import Chunk, SearchHit

QUESTION = "Who built the Zorblat lighthouse?"
PASSAGES = [
    "The Zorblat lighthouse on Kelvin Island was built in 1887 by the engineer Marta Quill.",
    "Kelvin Island has a population of about 400 and a ferry twice a week.",
    "Lighthouses on the north coast were automated in the 1970s.",
]


def _hit(i: int, text: str) -> SearchHit:
    chunk = Chunk(i, f"d{i}", "t", "main", f"{i}.txt", text, 0, len(text), None)
    return SearchHit(chunk=chunk, score=1.0 - i / 10, rank=i + 1)


def test_reading_after_reranking_scores_no_pair_twice_and_the_cache_stays_bounded(grounding_reader: Any) -> None:
    scored: list[int] = []
    score_pairs = grounding_reader.score_pairs

    def counting(firsts: list[str], passages: list[str]) -> Any:
        scored.append(len(firsts))
        return score_pairs(firsts, passages)

    service = GroundingService(
        grounding_reader, rerank_candidates=3, max_batch_size=8, max_wait_ms=1, max_queue=8, cache_pairs=4
    )

    async def run() -> tuple[list[SearchHit], Any]:
        await service.start()
        try:
            grounding_reader.score_pairs = counting
            ranked = await service.rerank(QUESTION, [_hit(i, t) for i, t in enumerate(PASSAGES)], top_k=3)
            reading = await service.read(QUESTION, [h.text for h in ranked])
            await service.read("When was it built?", PASSAGES)  # 3 new pairs: the bound of 4 evicts the oldest
            return ranked, reading
        finally:
            grounding_reader.score_pairs = score_pairs
            await service.stop()

    ranked, reading = asyncio.run(run())
    fresh = grounding_reader.read(QUESTION, [h.text for h in ranked])  # no cache, no batcher
    assert ranked[0].text == PASSAGES[0]
    assert scored == [3, 3]  # rerank scored 3 pairs; the first read none; the second read its 3 new pairs
    assert reading.best is not None and fresh.best is not None
    best = reading.best
    assert ranked[best.passage].text[best.start : best.end] == "Marta Quill"
    assert np.isclose(reading.answerable, fresh.answerable, atol=1e-4)
    assert len(service._cache) == 4


def test_rerank_fuses_the_models_order_with_retrievals_by_the_weight(grounding_reader: Any) -> None:
    passages = [
        "Sourdough bread rises because wild yeast ferments the dough.",
        PASSAGES[1],
        PASSAGES[0],  # the answer, last in retrieval's order
    ]
    hits = [_hit(i, t) for i, t in enumerate(passages)]

    def first(weight: float) -> SearchHit:
        service = GroundingService(
            grounding_reader, rerank_candidates=3, retrieval_weight=weight, max_batch_size=8, max_wait_ms=1, max_queue=8
        )

        async def run() -> list[SearchHit]:
            await service.start()
            try:
                return await service.rerank(QUESTION, hits, top_k=3)
            finally:
                await service.stop()

        ranked = asyncio.run(run())
        assert [h.rank for h in ranked] == [1, 2, 3] and all(h.rerank_score is not None for h in ranked)
        return ranked[0]

    assert first(0.0).text == PASSAGES[0]  # the model's order alone
    assert first(0.5).text == PASSAGES[0]  # the default: a clear model verdict wins over retrieval's order
    assert first(4.0).text == passages[0]  # retrieval's order dominates
