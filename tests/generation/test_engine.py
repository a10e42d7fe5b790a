"""LocalGenerator over the real default model: batching must not mix results up, streaming, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import torch

from generation.engine import LocalGenerator
from generation.errors import OverloadedError
from generation.model import LoadedModel
from generation.types import GenerationParams, StreamChunk

T = TypeVar("T")

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary colour.",
    "What is 2 plus 2?",
    "Write a word that rhymes with cat.",
]
GREEDY = GenerationParams(max_new_tokens=12)


def msgs(q: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q}]


def solo_greedy(loaded: LoadedModel, q: str, new: int) -> str:
    tok = loaded.tokenizer
    ids = tok.apply_chat_template(msgs(q), add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = loaded.model.generate(**ids, max_new_tokens=new, do_sample=False)
    return str(tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)).strip()


def run(loaded: LoadedModel, body: Callable[[LocalGenerator], Awaitable[T]], **kw: Any) -> T:
    async def main() -> T:
        gen = LocalGenerator(loaded, max_batch_size=4, kv_cache_tokens=4096, **kw)
        await gen.start()
        try:
            return await body(gen)
        finally:
            await gen.stop()

    return asyncio.run(main())


def test_concurrent_generate_matches_solo_greedy(loaded_model: LoadedModel) -> None:
    batches: list[tuple[int, int, float]] = []
    expected = [solo_greedy(loaded_model, q, GREEDY.max_new_tokens) for q in QUESTIONS]

    async def body(gen: LocalGenerator) -> list[Any]:
        # Different lengths too: per-request max_new_tokens.
        short = gen.generate(msgs(QUESTIONS[0]), GenerationParams(max_new_tokens=3))
        return list(await asyncio.gather(*(gen.generate(msgs(q), GREEDY) for q in QUESTIONS), short))

    results = run(loaded_model, body, on_batch=lambda *a: batches.append(a))
    assert [r.text.strip() for r in results[:-1]] == expected
    assert all(r.prompt_tokens > 10 and 0 < r.completion_tokens <= 12 for r in results)
    assert results[-1].completion_tokens <= 3
    assert results[-1].finish_reason == "length"
    assert max(b[0] for b in batches) > 1  # requests were decoded together


def test_stream_deltas_add_up_to_result(loaded_model: LoadedModel) -> None:
    async def body(gen: LocalGenerator) -> list[StreamChunk]:
        return [c async for c in gen.stream(msgs(QUESTIONS[0]), GREEDY)]

    chunks = run(loaded_model, body)
    final = chunks[-1].result
    assert final is not None and all(c.result is None for c in chunks[:-1])
    assert "".join(c.delta for c in chunks) == final.text
    assert final.text.strip() == solo_greedy(loaded_model, QUESTIONS[0], GREEDY.max_new_tokens)
    assert final.finish_reason in ("stop", "length")
    assert len(chunks) > 2  # streamed, not one blob


def test_cancelled_stream_frees_its_slot(loaded_model: LoadedModel) -> None:
    async def body(gen: LocalGenerator) -> tuple[int, int, str]:
        stream = gen.stream(msgs("Tell me a long story about a dragon."), GenerationParams(max_new_tokens=200))
        first = await anext(stream)
        during = gen.queue_depth()
        await stream.aclose()  # type: ignore[attr-defined]  # what a client disconnect does
        after = gen.queue_depth()
        # The engine keeps working for others after the cancellation.
        result = await gen.generate(msgs(QUESTIONS[2]), GenerationParams(max_new_tokens=4))
        assert first.result is None
        return during, after, result.text

    during, after, text = run(loaded_model, body)
    assert (during, after) == (1, 0)
    assert text


def test_full_queue_raises_overloaded(loaded_model: LoadedModel) -> None:
    async def body(gen: LocalGenerator) -> int:
        first = asyncio.create_task(gen.generate(msgs(QUESTIONS[0]), GenerationParams(max_new_tokens=4)))
        await asyncio.sleep(0)  # let it enter the engine
        with pytest.raises(OverloadedError):
            await gen.generate(msgs(QUESTIONS[1]), GREEDY)
        result = await first
        return result.completion_tokens

    assert run(loaded_model, body, max_queue=1) > 0


def test_sampling_request_runs(loaded_model: LoadedModel) -> None:
    async def body(gen: LocalGenerator) -> Any:
        return await gen.generate(msgs(QUESTIONS[1]), GenerationParams(max_new_tokens=6, temperature=0.8, top_p=0.9))

    result = run(loaded_model, body)
    assert result.text and 0 < result.completion_tokens <= 6


def test_continuous_engine_matches_solo_greedy(loaded_model: LoadedModel) -> None:
    """The GPU path (transformers' continuous-batching manager), run here on CPU."""
    params = GenerationParams(max_new_tokens=8)
    expected = [solo_greedy(loaded_model, q, params.max_new_tokens) for q in QUESTIONS[:2]]

    async def body(gen: LocalGenerator) -> list[Any]:
        assert gen.engine_name == "continuous"
        return list(await asyncio.gather(*(gen.generate(msgs(q), params) for q in QUESTIONS[:2])))

    results = run(loaded_model, body, engine="continuous")
    assert [r.text.strip() for r in results] == expected
