"""Data that flows through the adjustment stage. Plain dataclasses: no retrieval or HTTP types.

Steps hand findings to later steps through typed fields of ``AdjustedAnswer``, one per producing step
(``long_answer`` from shorten, ``injection`` from content rules, ``support_check`` from the citation
check, ``abstention`` from abstain), never through a free-form dict. A new signal (a reader's no-answer
score, say) is a field with a default: on ``AdjustmentContext`` when it is measured before the stage
runs, on ``AdjustedAnswer`` (or a dataclass it holds) when a step measures it for the steps after it,
and on ``AbstainSignals`` when abstention should report it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from generation.types import Passage

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts -> (N, D) float32 rows of L2 norm 1, so a dot product is a cosine."""

VerifyClaims = Callable[[str, Sequence[str], Sequence[str]], np.ndarray]
"""(question, claims, passage texts) -> per claim, P(some passage supports it as the answer), shape (N,)."""


class ReaderSpan(Protocol):
    """An answer span a reader found: characters [start, end) of ``passages[passage]`` (0-based)."""

    @property
    def passage(self) -> int: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


class Reading(Protocol):
    """What a reading-comprehension model found over the passages, in prompt order.

    ``generation`` never imports the model's package; ``grounding.ReadResult`` satisfies this structurally.
    """

    @property
    def best(self) -> ReaderSpan | None: ...

    @property
    def answerable(self) -> float:
        """Calibrated probability that some passage answers the question."""
        ...


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


@dataclass(frozen=True)
class SupportCheck:
    """What the citation check found, for the steps after it (abstain reuses it instead of scoring again)."""

    mode: Literal["phrase", "sentences"]
    # Phrase mode: the best-matching passage span, kept even when too weak to cite.
    evidence: Citation | None = None
    unsupported_sentences: int = 0


@dataclass(frozen=True)
class ReaderCheck:
    """What the reader step did: the span it trusted, and how many sentences it could not verify."""

    answerable: float
    span: str | None  # the reader's best span text, when confident
    corrected: bool  # the answer became that span
    unverified_sentences: int = 0


@dataclass
class AbstainSignals:
    """Every value the abstain step measured; ``None`` where it did not get that far or does not apply."""

    best_relevance: float | None = None  # the best question<->passage cosine
    answer_phrase: bool | None = None  # detail=short only: is the answer a phrase
    missing_key_terms: list[str] | None = None
    unstated_negation: str | None = None
    stated_opposite: str | None = None  # "word~opposite"
    support: float | None = None
    key_terms_away_from_evidence: list[str] | None = None
    question_coverage: float | None = None
    reader_answerable: float | None = None  # the reader's calibrated P(the passages answer the question)


@dataclass(frozen=True)
class Abstention:
    """The abstain step's verdict: ``reason`` is the first signal that fired, ``None`` when none did."""

    reason: str | None
    signals: AbstainSignals


@dataclass
class AdjustmentContext:
    question: str
    raw_answer: str
    passages: Sequence[Passage]  # in prompt order; each one's ``rank`` is its [n]
    detail: str = "normal"  # "short" | "normal" | "detailed"
    tone: str = "neutral"  # "neutral" | "formal" | "friendly"
    embed: Embed | None = None
    # The grounding reader's findings over ``passages``, and its claim verifier; None when it is off.
    reading: Reading | None = None
    reader_threshold: float = 0.5  # answerability at or above which the reader's span is confident
    verify: VerifyClaims | None = None


@dataclass
class AdjustedAnswer:
    answer: str
    abstained: bool
    citations: list[Citation]
    sentences: list[SentenceSupport]
    support: float  # overall support 0..1 (0.0 until the citation check has run)
    adjustments: list[str]  # step names in the order they ran, plus "step:what_changed" entries
    long_answer: str | None = None  # shorten: the answer before it became a phrase
    injection: tuple[str, ...] = ()  # content rules: payloads of instructions in the passages, when obeyed
    support_check: SupportCheck | None = None  # citations
    abstention: Abstention | None = None  # abstain
    reader_check: ReaderCheck | None = None  # reader
