"""A small left-padded batch decoder, the ``DecodeEngine`` for CPUs.

Why not transformers' continuous-batching manager here: without flash-attention kernels (CPU) it packs
every request into one sequence and runs SDPA with a block-diagonal mask, after gathering the whole paged
cache. Each decode step then attends every request's query to every request's keys, so its attention cost
grows with the square of the number of requests, and on a CPU it is slower than one-by-one ``generate``,
where one static left-padded batch is faster (benchmarks/generation_batching.py; docs/evaluation.md).

This engine keeps the padded layout and lets requests join and leave at every step:

* newcomers admitted together are prefilled together, one forward per group of similar lengths, left-padded
  with an attention mask and each row's own position ids (a lone newcomer is not padded at all); their KV
  caches are then left-padded to the batch's width and concatenated to the batch. Prefilled one by one,
  a burst of arrivals would cost a whole forward each, and a forward's cost on a GPU is mostly fixed overhead;
* each step decodes one token for every row: tokens (B, 1), attention mask (B, W) with zeros over the
  padding, each row's own position ids, one shared ``DynamicCache``;
* a row leaves at a stop token, at its ``max_new_tokens`` or when cancelled; columns that only padding
  still fills are cut off the left.

Greedy rows take the argmax, the same tokens as ``generate`` (checked in tests/generation/
test_engine_padded.py); sampled rows apply their own temperature and top-p. One worker thread owns the
batch; ``add`` and ``cancel`` only touch the waiting queue, under a lock.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from generation.decoding import Deliver, TokenEvent
from generation.errors import GenerationError
from generation.model import LoadedModel
from generation.types import GenerationParams

logger = logging.getLogger(__name__)


@dataclass
class _Row:
    id: str
    prompt: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    tokens: list[int] = field(default_factory=list)
    position: int = 0  # position id of the next input token (= real tokens in the cache)


# Rows joining the batch together: the rows, their (keys, values) per layer (B, H_kv, W, D), their mask (B, W)
# with zeros over left padding, and the cache object that held those tensors.
_Part = tuple[list[_Row], list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, Any]

# Newcomers are prefilled together while left padding stays within this share of their real tokens.
PREFILL_PADDING = 0.25


def supports(model: Any) -> bool:
    """True when every cache layer of ``model`` is a plain, full-attention ``DynamicLayer``.

    Sliding-window, recurrent and other layer kinds keep state this engine does not know how to pad and
    concatenate; such models stay on the continuous-batching engine.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    layers = DynamicCache(config=model.config).layers
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def pick_tokens(logits: torch.Tensor, temperatures: list[float], top_ps: list[float]) -> list[int]:
    """One token per row of ``logits`` (B, V): argmax where the temperature is 0, else top-p sampling."""
    logits = logits.float()
    tokens = logits.argmax(-1)  # (B,)
    sampled = [i for i, t in enumerate(temperatures) if t > 0]
    if sampled:
        idx = torch.tensor(sampled, device=logits.device)
        temps = torch.tensor([temperatures[i] for i in sampled], device=logits.device).unsqueeze(1)  # (S, 1)
        top_p = torch.tensor([top_ps[i] for i in sampled], device=logits.device).unsqueeze(1)  # (S, 1)
        probs = torch.softmax(logits[idx] / temps, dim=-1)  # (S, V)
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the most likely token always stays).
        sorted_p = sorted_p.masked_fill(sorted_p.cumsum(-1) - sorted_p > top_p, 0.0)
        choice = torch.multinomial(sorted_p, 1)  # (S, 1), renormalised by multinomial
        tokens[idx] = order.gather(-1, choice).squeeze(1)
    return [int(t) for t in tokens.tolist()]


def admit_count(
    waiting: Sequence[tuple[int, int]],
    running: Sequence[tuple[int, int]],
    *,
    max_batch_size: int,
    max_prefill_tokens: int,
    max_cache_tokens: int,
) -> int:
    """How many rows at the head of ``waiting`` join the batch now (FIFO). Rows are (prompt, max_new) tokens.

    They join while the batch has room, while their prompts fit ``max_prefill_tokens`` (prefilled before
    the next decode step; one prompt always may) and while rows x width stays within ``max_cache_tokens``.
    Rows stay right-aligned, so the width never exceeds the longest prompt + max_new of the batch. Into an
    empty batch one row always joins; a row that does not fit holds back the rows behind it, so it joins
    once the batch has drained enough (no starvation).
    """
    width = max((p + n for p, n in running), default=0)
    prefill = 0
    taken = 0
    for prompt, new in waiting:
        rows = len(running) + taken
        grown = max(width, prompt + new)
        if rows >= max_batch_size:
            break
        if (taken and prefill + prompt > max_prefill_tokens) or (rows and (rows + 1) * grown > max_cache_tokens):
            break
        width, prefill, taken = grown, prefill + prompt, taken + 1
    return taken


def prefill_groups(lengths: Sequence[int], max_padding: float = PREFILL_PADDING) -> list[list[int]]:
    """Indices of the prompts to prefill in one forward each: sorted by length, a group grows while its
    padded size (rows x longest) stays within ``1 + max_padding`` times its real tokens."""
    groups: list[list[int]] = []
    group: list[int] = []
    tokens = 0
    for i in sorted(range(len(lengths)), key=lambda j: lengths[j]):
        n = lengths[i]  # the longest of the group so far, as lengths ascend
        if group and (len(group) + 1) * n > (1 + max_padding) * (tokens + n):
            groups.append(group)
            group, tokens = [], 0
        group.append(i)
        tokens += n
    if group:
        groups.append(group)
    return groups


class PaddedBatchEngine:
    name = "padded"

    def __init__(
        self,
        loaded: LoadedModel,
        deliver: Deliver,
        *,
        max_batch_size: int,
        eos_ids: Iterable[int],
        max_cache_tokens: int = 32 * 1024,
        max_prefill_tokens: int | None = None,
    ) -> None:
        """
        Args:
            loaded: the model and tokenizer.
            deliver: where token events go (called from the worker thread).
            max_batch_size: most rows decoded together in one step.
            eos_ids: tokens that end a row.
            max_cache_tokens: bound on the padded cache, rows x width; a newcomer waits while the batch with
                it could outgrow this before its rows finish (a lone row is always admitted).
            max_prefill_tokens: prompt tokens prefilled between two decode steps (at least one prompt), so
                a burst of newcomers does not stall the running rows for all of their prefills at once.
                Default: 8192 on a GPU, where a forward's cost is mostly fixed overhead, 2048 on a CPU, where
                it grows with its tokens.
        """
        self.loaded = loaded
        self.model = loaded.model
        self.deliver = deliver
        self.max_batch_size = max_batch_size
        self.eos_ids = frozenset(eos_ids)
        self.max_cache_tokens = max_cache_tokens
        if max_prefill_tokens is None:
            max_prefill_tokens = 8192 if loaded.device.startswith("cuda") else 2048
        self.max_prefill_tokens = max_prefill_tokens
        self._cond = threading.Condition()
        self._waiting: deque[_Row] = deque()
        self._cancelled: set[str] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # The batch: only the worker thread touches these.
        self._rows: list[_Row] = []
        self._cache: Any = None  # DynamicCache holding (B, H_kv, W, D) keys and values per layer
        self._mask: torch.Tensor | None = None  # (B, W): 1 over real tokens, 0 over left padding

    # --- DecodeEngine ------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._rows, self._cache, self._mask = [], None, None
            self._thread = threading.Thread(target=self._run, name="padded-batch-engine", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._waiting.clear()
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=60)

    def is_running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def add(self, request_id: str, prompt_ids: list[int], params: GenerationParams) -> None:
        row = _Row(
            id=request_id,
            prompt=list(prompt_ids),
            max_new_tokens=params.max_new_tokens,
            temperature=max(0.0, float(params.temperature)),
            top_p=float(params.top_p),
        )
        with self._cond:
            if not self.is_running() or self._stopping:
                raise GenerationError("the generation engine is not accepting requests")
            self._waiting.append(row)
            self._cond.notify()

    def cancel(self, request_id: str) -> None:
        with self._cond:
            for row in self._waiting:
                if row.id == request_id:
                    self._waiting.remove(row)
                    return
            self._cancelled.add(request_id)

    def batch_size(self) -> int:
        """Rows in the running batch (for tests and metrics; read without a lock)."""
        return len(self._rows)

    # --- the worker --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._waiting or self._rows):
                    self._cond.wait()
                if self._stopping:
                    return
                cancelled, self._cancelled = self._cancelled, set()
                newcomers = self._admit()
            try:
                with torch.inference_mode():
                    if cancelled:
                        self._keep([i for i, r in enumerate(self._rows) if r.id not in cancelled])
                    if newcomers:
                        self._prefill(newcomers)
                    if self._rows:
                        self._step()
            except Exception as exc:  # a failed forward fails its batch; the engine goes on
                logger.exception("padded batch step failed")
                failed, self._rows, self._cache, self._mask = self._rows, [], None, None
                self.deliver([TokenEvent(r.id, list(r.tokens), True, f"{type(exc).__name__}: {exc}") for r in failed])

    def _admit(self) -> list[_Row]:
        """Under the lock: the waiting rows that join the batch now."""
        n = admit_count(
            [(len(r.prompt), r.max_new_tokens) for r in self._waiting],
            [(len(r.prompt), r.max_new_tokens) for r in self._rows],
            max_batch_size=self.max_batch_size,
            max_prefill_tokens=self.max_prefill_tokens,
            max_cache_tokens=self.max_cache_tokens,
        )
        return [self._waiting.popleft() for _ in range(n)]

    def _prefill(self, newcomers: list[_Row]) -> None:
        """Prefill the newcomers, a group of similar lengths per forward, and merge them into the batch."""
        parts = [
            part
            for group in prefill_groups([len(r.prompt) for r in newcomers])
            for part in self._prefill_group([newcomers[i] for i in group])
        ]
        if parts:
            self._merge(parts)

    def _prefill_group(self, rows: list[_Row]) -> list[_Part]:
        """One forward over ``rows``' prompts, left-padded to the longest; delivers each row's first token and
        returns the rows still running with their cache (at most one part). A failed forward of several
        rows is retried row by row, so one bad prompt fails only its own request."""
        from transformers import DynamicCache

        device = self.loaded.device
        width = max(len(row.prompt) for row in rows)
        ids = torch.tensor([[0] * (width - len(r.prompt)) + r.prompt for r in rows], device=device)  # (N, T)
        mask = torch.tensor([[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in rows], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # each row's own positions, from 0 at its first token
        try:
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                cache=DynamicCache(config=self.model.config),
                use_cache=True,
                logits_to_keep=1,
            )
        except Exception as exc:
            if len(rows) > 1:
                return [part for row in rows for part in self._prefill_group([row])]
            logger.exception("prefill failed")
            self._fail(rows, f"{type(exc).__name__}: {exc}")
            return []
        for row in rows:
            row.position = len(row.prompt)
        keep = self._advance(rows, out.logits[:, -1, :])
        if not keep:
            return []
        kv = _layers(out.cache)
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=device)
            kv, mask = [(k[index], v[index]) for k, v in kv], mask[index]
        return [([rows[i] for i in keep], kv, mask, out.cache)]

    def _fail(self, rows: list[_Row], error: str) -> None:
        self.deliver([TokenEvent(row.id, list(row.tokens), True, error) for row in rows])

    def _merge(self, parts: list[_Part]) -> None:
        """Left-pad the running batch and the newcomers' caches to one width and stack them."""
        if self._rows:
            assert self._mask is not None
            parts = [(self._rows, _layers(self._cache), self._mask, self._cache), *parts]
        width = max(mask.shape[1] for _, _, mask, _ in parts)
        stacked: list[tuple[torch.Tensor, torch.Tensor]] = []
        for layer in range(len(parts[0][1])):
            keys = [F.pad(kv[layer][0], (0, 0, width - mask.shape[1], 0)) for _, kv, mask, _ in parts]
            values = [F.pad(kv[layer][1], (0, 0, width - mask.shape[1], 0)) for _, kv, mask, _ in parts]
            stacked.append((torch.cat(keys), torch.cat(values)))  # (B, H_kv, W, D) each
        self._mask = torch.cat([F.pad(mask, (width - mask.shape[1], 0)) for _, _, mask, _ in parts])  # (B, W)
        self._rows = [row for rows, _, _, _ in parts for row in rows]
        self._cache = parts[0][3]  # reuse a cache object; its tensors are replaced
        _set_layers(self._cache, stacked)
        self._trim()

    def _step(self) -> None:
        assert self._mask is not None
        rows = self._rows
        device = self._mask.device
        ids = torch.tensor([[r.tokens[-1]] for r in rows], device=device)  # (B, 1)
        positions = torch.tensor([[r.position] for r in rows], device=device)  # (B, 1)
        self._mask = torch.cat([self._mask, self._mask.new_ones(len(rows), 1)], dim=1)  # (B, W + 1)
        out = self.model(
            input_ids=ids,
            attention_mask=self._mask,
            position_ids=positions,
            cache=self._cache,
            use_cache=True,
            logits_to_keep=1,
        )
        for row in rows:
            row.position += 1
        self._keep(self._advance(rows, out.logits[:, -1, :]))

    def _advance(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        """Each row's next token from ``logits`` (B, V), appended and delivered; returns the rows still running."""
        picked = pick_tokens(logits, [r.temperature for r in rows], [r.top_p for r in rows])
        events: list[TokenEvent] = []
        keep: list[int] = []
        for i, (row, token) in enumerate(zip(rows, picked, strict=True)):
            row.tokens.append(token)
            done = self._done(row)
            events.append(TokenEvent(row.id, list(row.tokens), done))
            if not done:
                keep.append(i)
        self.deliver(events)
        return keep

    def _keep(self, keep: list[int]) -> None:
        """Keep only rows ``keep`` of the batch, and cut the left columns that are padding in every row."""
        if len(keep) == len(self._rows):
            return
        if not keep:
            self._rows, self._cache, self._mask = [], None, None
            return
        assert self._mask is not None
        index = torch.tensor(keep, device=self._mask.device)
        self._rows = [self._rows[i] for i in keep]
        self._mask = self._mask[index]  # (B', W)
        _set_layers(self._cache, [(k[index], v[index]) for k, v in _layers(self._cache)])
        self._trim()

    def _trim(self) -> None:
        """Cut the left columns that are padding in every row."""
        assert self._mask is not None
        first = int(torch.nonzero(self._mask.any(dim=0))[0, 0])  # first column some row uses
        if first:
            self._mask = self._mask[:, first:]
            _set_layers(self._cache, [(k[:, :, first:], v[:, :, first:]) for k, v in _layers(self._cache)])

    def _done(self, row: _Row) -> bool:
        return row.tokens[-1] in self.eos_ids or len(row.tokens) >= row.max_new_tokens


def _layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _set_layers(cache: Any, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    # DynamicLayer keeps its whole state in ``keys`` and ``values`` (its length is read from their shape),
    # so replacing them is how rows are stacked, dropped and trimmed without another copy.
    for layer, (keys, values) in zip(cache.layers, layers, strict=True):
        layer.keys, layer.values = keys, values
