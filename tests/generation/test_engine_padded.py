"""The padded batch engine (LocalGenerator's CPU path) over the real default model: exact greedy tokens
while rows join, leave and queue, and when newcomers are prefilled together; cancellation; failures;
token picking; engine choice."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from generation.decoding import TokenEvent
from generation.engine import pick_engine
from generation.errors import GenerationError
from generation.model import LoadedModel
from generation.padded import PaddedBatchEngine, admit_count, pick_tokens, prefill_groups
from generation.types import GenerationParams

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary colour, and say in one sentence why painters call it primary.",
    "What is 2 plus 2?",
    "Write a word that rhymes with cat. Then write another one, and explain which of the two you like best.",
]


class Collector:
    """The engine's ``deliver``: keeps each request's latest event and the size of every step."""

    def __init__(self) -> None:
        self.latest: dict[str, TokenEvent] = {}
        self.steps: list[int] = []
        self.cond = threading.Condition()

    def __call__(self, events: list[TokenEvent]) -> None:
        with self.cond:
            self.steps.append(len(events))
            for event in events:
                self.latest[event.request_id] = event
            self.cond.notify_all()

    def wait_for(self, check: object, timeout: float = 600) -> None:
        """Wakes on every event, and polls as well: ``engine.batch_size()`` changes after the last event."""
        assert callable(check)
        deadline = time.monotonic() + timeout
        with self.cond:
            while not check():
                left = deadline - time.monotonic()
                assert left > 0, "the engine did not get there in time"
                self.cond.wait(timeout=min(left, 0.05))

    def tokens(self, request_id: str) -> list[int]:
        event = self.latest.get(request_id)
        return list(event.tokens) if event else []

    def finished(self, *request_ids: str) -> bool:
        return all(r in self.latest and self.latest[r].finished for r in request_ids)


def prompt_ids(loaded: LoadedModel, question: str) -> list[int]:
    ids = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    return list(ids)


def reference(loaded: LoadedModel, ids: list[int], new: int) -> list[int]:
    """Plain greedy ``generate``, cut after its first stop token (the engine includes that token too)."""
    t = torch.tensor([ids])
    with torch.inference_mode():
        out = loaded.model.generate(input_ids=t, attention_mask=torch.ones_like(t), max_new_tokens=new, do_sample=False)
    tokens: list[int] = out[0, len(ids) :].tolist()
    eos = loaded.tokenizer.eos_token_id
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


@pytest.fixture
def collector() -> Collector:
    return Collector()


def make_engine(loaded: LoadedModel, collector: Collector, **kw: int) -> Iterator[PaddedBatchEngine]:
    engine = PaddedBatchEngine(loaded, collector, eos_ids={loaded.tokenizer.eos_token_id}, **kw)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def engine(loaded_model: LoadedModel, collector: Collector) -> Iterator[PaddedBatchEngine]:
    yield from make_engine(loaded_model, collector, max_batch_size=3)


def greedy(new: int) -> GenerationParams:
    return GenerationParams(max_new_tokens=new)


def test_greedy_rows_match_generate_while_joining_leaving_and_queueing(
    loaded_model: LoadedModel, engine: PaddedBatchEngine, collector: Collector
) -> None:
    ids = [prompt_ids(loaded_model, q) for q in QUESTIONS]
    new = [14, 10, 4, 12]
    # The first row runs alone for a few steps; then a longer prompt (the batch is padded to it), a shorter
    # one (padded to the batch) and a fourth that must queue behind max_batch_size=3 join mid-flight.
    engine.add("r0", ids[0], greedy(new[0]))
    collector.wait_for(lambda: len(collector.tokens("r0")) >= 3)
    for i in (1, 2, 3):
        engine.add(f"r{i}", ids[i], greedy(new[i]))
    collector.wait_for(lambda: collector.finished("r0", "r1", "r2", "r3"))

    for i in range(4):
        assert collector.tokens(f"r{i}") == reference(loaded_model, ids[i], new[i]), f"row {i}"
    assert 2 <= max(collector.steps) <= 3  # rows were decoded together, never more than the limit
    collector.wait_for(lambda: engine.batch_size() == 0)


def test_cancelled_row_leaves_and_the_others_are_unchanged(
    loaded_model: LoadedModel, engine: PaddedBatchEngine, collector: Collector
) -> None:
    long_ids = prompt_ids(loaded_model, "Tell me a long story about a dragon.")
    ids = prompt_ids(loaded_model, QUESTIONS[1])
    engine.add("long", long_ids, greedy(200))
    engine.add("other", ids, greedy(10))
    collector.wait_for(lambda: len(collector.tokens("long")) >= 2 and len(collector.tokens("other")) >= 2)
    engine.cancel("long")
    collector.wait_for(lambda: collector.finished("other"))
    collector.wait_for(lambda: engine.batch_size() == 0)

    assert not collector.latest["long"].finished
    assert len(collector.tokens("long")) < 200
    assert collector.tokens("other") == reference(loaded_model, ids, 10)


def test_a_row_that_would_outgrow_the_cache_bound_waits(loaded_model: LoadedModel, collector: Collector) -> None:
    ids = [prompt_ids(loaded_model, q) for q in QUESTIONS[:2]]
    bound = max(map(len, ids)) + 6 + 10  # room for one row of prompt + 6 new tokens, not for two
    for engine in make_engine(loaded_model, collector, max_batch_size=4, max_cache_tokens=bound):
        engine.add("a", ids[0], greedy(6))
        engine.add("b", ids[1], greedy(6))
        collector.wait_for(lambda: collector.finished("a", "b"))

    assert max(collector.steps) == 1  # never decoded together
    assert collector.tokens("a") == reference(loaded_model, ids[0], 6)
    assert collector.tokens("b") == reference(loaded_model, ids[1], 6)


def test_admit_count_keeps_room_prefill_budget_cache_bound_and_order() -> None:
    kw = {"max_batch_size": 3, "max_prefill_tokens": 100, "max_cache_tokens": 1100}
    assert admit_count([(10, 5)] * 4, [(10, 5)] * 2, **kw) == 1  # room for one more row
    assert admit_count([(60, 5), (60, 5)], [], **kw) == 1  # 120 prompt tokens > the prefill budget...
    assert admit_count([(500, 5)], [(10, 5)], **kw) == 1  # ...but one prompt always may
    assert admit_count([(400, 200)], [(10, 5)], **kw) == 0  # 2 rows x 600 > the cache bound...
    assert admit_count([(400, 200)], [], **kw) == 1  # ...yet it joins an empty batch
    assert admit_count([(400, 200), (5, 5)], [(10, 5)], **kw) == 0  # FIFO: it holds back the row behind it
    assert admit_count([(10, 5), (10, 5)], [(250, 50)], **kw) == 2  # 3 rows x 300 (the longest) fit
    assert admit_count([], [(10, 5)], **kw) == 0


def test_newcomers_arriving_together_are_prefilled_in_one_forward_and_match_generate(
    loaded_model: LoadedModel, collector: Collector
) -> None:
    questions = ["What is the capital of France?", "What is the capital of Spain?", "What is the capital of Peru?"]
    ids = [prompt_ids(loaded_model, q) for q in questions]
    for engine in make_engine(loaded_model, collector, max_batch_size=4):
        with engine._cond:  # the worker admits nobody until all three wait
            for i, row in enumerate(ids):
                engine.add(f"r{i}", row, greedy(8))
        collector.wait_for(lambda: collector.finished("r0", "r1", "r2"))

    assert collector.steps[0] == 3  # one prefill delivered all three first tokens
    for i, row in enumerate(ids):
        assert collector.tokens(f"r{i}") == reference(loaded_model, row, 8), f"row {i}"


def test_a_failed_prefill_fails_only_its_request(loaded_model: LoadedModel, collector: Collector) -> None:
    ids = prompt_ids(loaded_model, QUESTIONS[2])
    vocab = loaded_model.model.config.vocab_size
    bad = [*ids[:-1], vocab + 5]  # an id past the embedding table, in a prompt as long as the good one
    for engine in make_engine(loaded_model, collector, max_batch_size=3):
        with engine._cond:  # both join in one prefill group, whose forward fails
            engine.add("bad", bad, greedy(4))
            engine.add("good", ids, greedy(4))
        collector.wait_for(lambda: collector.finished("bad", "good"))
        assert engine.is_running()

    assert collector.latest["bad"].error
    assert collector.latest["good"].error is None
    assert collector.tokens("good") == reference(loaded_model, ids, 4)


def test_prefill_groups_bound_the_padding_and_cover_every_prompt_once() -> None:
    assert prefill_groups([100, 100, 100]) == [[0, 1, 2]]
    assert prefill_groups([100, 10]) == [[1], [0]]  # 2 x 100 padded > 1.25 x 110 real tokens
    groups = prefill_groups([50, 400, 45, 420, 60, 380, 400])
    assert sorted(i for g in groups for i in g) == list(range(7))
    lengths = [50, 400, 45, 420, 60, 380, 400]
    for group in groups:
        assert len(group) * max(lengths[i] for i in group) <= 1.25 * sum(lengths[i] for i in group)
    assert len(groups) == 2  # the short prompts together, the long ones together
    assert prefill_groups([]) == []


def test_a_stopped_engine_refuses_requests(loaded_model: LoadedModel, collector: Collector) -> None:
    engine = PaddedBatchEngine(loaded_model, collector, max_batch_size=2, eos_ids={0})
    with pytest.raises(GenerationError, match="not accepting"):
        engine.add("early", [1, 2], greedy(2))
    engine.start()
    engine.stop()
    assert not engine.is_running()
    with pytest.raises(GenerationError, match="not accepting"):
        engine.add("late", [1, 2], greedy(2))


def test_pick_tokens_greedy_rows_take_the_argmax_and_sampled_rows_follow_top_p() -> None:
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]] * 3)  # (B=3, V=4)
    # Row 0 greedy; row 1 sampled with a top_p so small only the best token survives; row 2 sampled freely.
    picks = [pick_tokens(logits, [0.0, 1.0, 5.0], [1.0, 0.01, 1.0]) for _ in range(200)]
    assert {p[0] for p in picks} == {1}
    assert {p[1] for p in picks} == {1}
    assert {p[2] for p in picks} == {0, 1, 2, 3}


def test_pick_engine_follows_the_device(loaded_model: LoadedModel) -> None:
    assert pick_engine(loaded_model) == "padded"
    assert pick_engine(dataclasses.replace(loaded_model, device="cuda")) == "continuous"
    assert pick_engine(loaded_model, "continuous") == "continuous"
    assert pick_engine(dataclasses.replace(loaded_model, device="cuda"), "padded") == "padded"
