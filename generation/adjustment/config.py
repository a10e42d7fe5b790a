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
    # Best question<->passage cosine (all-MiniLM-L6-v2) below which nothing retrieved is on topic.
    # MiniLM gives a question and a paragraph that answers it typically 0.35-0.8, and a question
    # and an unrelated paragraph about -0.1-0.15; 0.2 sits between with margin on the answerable side.
    min_relevance: float = 0.2
    # Weighted share of the question's content words (numbers 3, names 2, other words 1) that the
    # passages around the answer's evidence must hold. Below it, the passage is about something else.
    # Off by default: on a SQuAD 2.0 dev sample (benchmarks/answer_quality.py's questions excluded)
    # answerable and unanswerable questions cover alike (medians 0.5 and 0.5), so any threshold
    # refused about as many answerable questions as unanswerable ones.
    min_question_coverage: float = 0.0
    # A number or capitalised name of the question that no passage holds means the documents answer a
    # different question (a different year, a different person): abstain. On that dev sample it fired
    # for 14 of 100 unanswerable questions and none of 100 answerable ones.
    require_key_terms: bool = True
    # A question that asks what is not so ("not", "never", "n't", ...) while the passage sentences closest
    # to it and the answer's evidence state no negation or exclusion: abstain (abstain.py). On that dev
    # sample it fired for 13 of 100 unanswerable questions (12 that no other default rule refused) and
    # for none of 100 answerable ones.
    require_stated_negation: bool = True
    # A word of the question missing near it while its opposite is there ("least" against "most",
    # "unsolved" against "solved"): abstain (abstain.py, opposites.py). The word list was written after
    # reading the dev sample's questions, so it was checked on a second, held-out one (seed 7, 150 + 150,
    # disjoint from both): there it fired for 6 % of unanswerable and 2 % of answerable questions, and
    # moved the default from 0.48 to 0.52 abstention at 0.33 -> 0.34 false abstention.
    reject_stated_opposite: bool = True
    # With detail=short, abstain when the answer is still no phrase after shortening (more than 8 words,
    # or several sentences): a model that knows the answer names it, one that does not writes around
    # the question. It fired for 16 % / 20 % of unanswerable and 5 % / 11 % of answerable questions
    # (dev / held-out sample); the answerable ones were nearly all wrong answers (F1 0.177 -> 0.175
    # and 0.138 -> 0.130), and abstention rose 0.45 -> 0.52 and 0.41 -> 0.52.
    require_answer_phrase: bool = True
    # Also abstain when such a number or name is missing from the sentences around the answer's
    # evidence. Off by default: on the dev sample it refused 9 answerable questions per 14 unanswerable.
    key_terms_near_evidence: bool = False
    # The grounding reader's claim probability below which an answer sentence is unsupported; 0: not checked.
    verify_threshold: float = 0.0
    # Sentences either side of the evidence sentence that count for question coverage.
    coverage_window: int = 1
