"""Settings of the adjustment stage (re-exported by ``pipeline``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdjustmentConfig:
    # What the citation check does with a sentence below ``support_threshold``: keep it marked
    # unsupported ("flag") or remove it ("drop").
    unsupported: str = "flag"
    # Support (0..1) below which a sentence is unsupported, and below which the whole answer abstains.
    support_threshold: float = 0.5
    # Case-insensitive whole words, and regular expressions, masked as "[blocked]".
    blocked_terms: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = ()
    # Mask emails, phone numbers and (Luhn-valid) payment card numbers.
    redact_pii: bool = True
    # The plain answer given instead of a guess.
    abstain_answer: str = "The documents don't say."
    # Best question<->passage cosine below which nothing retrieved is on topic. The default sits between
    # what all-MiniLM-L6-v2 gives a question and a paragraph that answers it and what it gives an
    # unrelated paragraph, with margin on the answerable side.
    min_relevance: float = 0.2
    # Weighted share of the question's content words (numbers 3, names 2, other words 1) that the
    # passages around the answer's evidence must hold. Below it, the passage is about something else.
    # Off by default: it does not tell answerable from unanswerable questions (docs/evaluation.md).
    min_question_coverage: float = 0.0
    # A number or capitalised name of the question that no passage holds means the documents answer a
    # different question (a different year, a different person): abstain.
    require_key_terms: bool = True
    # A question that asks what is not so ("not", "never", "n't", ...) while the passage sentences closest
    # to it and the answer's evidence state no negation or exclusion: abstain (abstain.py).
    require_stated_negation: bool = True
    # A word of the question missing near it while its opposite is there ("least" against "most",
    # "unsolved" against "solved"): abstain (abstain.py, opposites.py). The word list was written after
    # reading a development sample, so it was checked on a held-out one (docs/evaluation.md).
    reject_stated_opposite: bool = True
    # With detail=short, abstain when the answer is still no phrase after shortening (more than 8 words,
    # or several sentences): a model that knows the answer names it, one that does not writes around
    # the question.
    require_answer_phrase: bool = True
    # Also abstain when such a number or name is missing from the sentences around the answer's
    # evidence. Off by default: it refuses too many answerable questions (docs/evaluation.md).
    key_terms_near_evidence: bool = False
    # The grounding reader's claim probability below which an answer sentence is unsupported; 0: not checked.
    verify_threshold: float = 0.0
    # Sentences either side of the evidence sentence that count for question coverage.
    coverage_window: int = 1
