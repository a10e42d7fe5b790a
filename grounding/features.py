"""Tokenising (question, passage) pairs into model windows.

A passage longer than the window is split with a document stride, as in transformers' ``run_qa.py``: every
window repeats the question and holds an overlapping slice of the passage, and ``offset_mapping`` maps its
tokens back to characters of the passage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 256
DOC_STRIDE = 96
MAX_QUESTION_TOKENS = 64
CLAIM_MARKER = " answer: "


@dataclass(frozen=True)
class Window:
    """One model input: a question (or claim) and a slice of one passage."""

    pair: int  # index of the (question, passage) pair this window came from
    input_ids: list[int]
    token_type_ids: list[int]
    # Character span in the passage for each token, or None for question and special tokens.
    offsets: list[tuple[int, int] | None]


def claim_text(question: str, claim: str) -> str:
    """The first segment used to ask whether a passage supports ``claim`` as the answer to ``question``."""
    return f"{question.strip()}{CLAIM_MARKER}{claim.strip()}"


def _clip_question(tokenizer: Any, question: str) -> str:
    ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    if len(ids) <= MAX_QUESTION_TOKENS:
        return question
    return str(tokenizer.decode(ids[:MAX_QUESTION_TOKENS]))


def encode_pairs(
    tokenizer: Any,
    questions: Sequence[str],
    passages: Sequence[str],
    *,
    max_length: int = MAX_LENGTH,
    stride: int = DOC_STRIDE,
    max_windows: int | None = None,
) -> list[Window]:
    """Windows for each (question, passage) pair, in pair order; every pair gets at least one window.

    ``max_windows`` keeps only the first windows of a long passage (used for negatives in training).
    """
    if len(questions) != len(passages):
        raise ValueError("questions and passages must have the same length")
    if not questions:
        return []
    clipped = [_clip_question(tokenizer, q) for q in questions]
    enc = tokenizer(
        clipped,
        list(passages),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
        padding=False,
    )
    windows: list[Window] = []
    seen: dict[int, int] = {}
    for i, pair in enumerate(enc["overflow_to_sample_mapping"]):
        if max_windows is not None and seen.get(pair, 0) >= max_windows:
            continue
        seen[pair] = seen.get(pair, 0) + 1
        seq_ids = enc.sequence_ids(i)
        offsets: list[tuple[int, int] | None] = [
            (int(s), int(e)) if sid == 1 else None
            for sid, (s, e) in zip(seq_ids, enc["offset_mapping"][i], strict=True)
        ]
        windows.append(
            Window(
                pair=int(pair),
                input_ids=list(enc["input_ids"][i]),
                token_type_ids=list(enc["token_type_ids"][i]),
                offsets=offsets,
            )
        )
    return windows


def token_span(window: Window, start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token positions of the characters [start_char, end_char) if the window holds them whole, else None."""
    context = [(i, off) for i, off in enumerate(window.offsets) if off is not None]
    if not context or start_char < context[0][1][0] or end_char > context[-1][1][1]:
        return None
    first = next(i for i, (_, e) in context if e > start_char)
    last = max(i for i, (s, _) in context if s < end_char)
    return (first, last) if last >= first else None
