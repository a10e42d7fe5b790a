"""Data that flows through the adjustment stage. Plain dataclasses: no retrieval or HTTP types."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts -> (N, D) float32 rows of L2 norm 1, so a dot product is a cosine."""


@dataclass(frozen=True)
class SourcePassage:
    """One retrieved passage, as numbered ``[n]`` in the prompt."""

    number: int  # 1-based, as shown to the model
    document_id: str
    source: str  # filename
    page: int | None
    start: int  # char offsets of ``text`` in the document's extracted text
    end: int
    text: str  # == document_text[start:end]
    score: float  # retrieval score (fused or dense)
    relevance: float | None = None  # cosine question<->passage from the embedding model, if known


@dataclass(frozen=True)
class Citation:
    """A supporting span: ``text == document_text[start:end]``, a sub-span of passage ``number``."""

    number: int
    document_id: str
    source: str
    page: int | None
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SentenceSupport:
    """How well the passages support one answer sentence.

    ``citations`` holds passage numbers (the ``[n]`` of the prompt and of the answer text, and the
    ``number`` of the matching entries in ``AdjustedAnswer.citations``), best first.
    """

    text: str
    support: float
    citations: tuple[int, ...]
    supported: bool


@dataclass
class AdjustmentContext:
    question: str
    raw_answer: str
    passages: list[SourcePassage]
    detail: str = "normal"  # "short" | "normal" | "detailed"
    tone: str = "neutral"  # "neutral" | "formal" | "friendly"
    embed: Embed | None = None


@dataclass
class AdjustedAnswer:
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[SentenceSupport]
    support: float  # overall support 0..1 (0.0 until the citation check has run)
    adjustments: list[str]  # step names in the order they ran, plus "step:what_changed" entries
    notes: dict[str, Any] = field(default_factory=dict)
