"""Abstention: answer "The documents don't say." instead of guessing.

Signals, checked in order; the first that fires is ``abstention.reason`` of the adjusted answer, and
every measured value is in ``abstention.signals`` (``AbstainSignals``):

``no_passages``         nothing was retrieved;
``low_relevance``       the best question<->passage cosine is below ``min_relevance``;
``empty_answer``        nothing is left after correction (and content rules);
``model_declined``      the model said it cannot answer ("I don't know", "not mentioned", ...);
``reader_no_answer``    with the grounding reader on (``ctx.reading``): its calibrated answerability is below
                        ``ctx.reader_threshold``; then only ``missing_key_terms`` and ``low_support`` (the
                        reader-verified support) follow, since the reader supersedes the hand-made rules below;
``no_answer_phrase``    ``detail`` is ``short`` but what is left after shortening is no phrase (more than
                        ``PHRASE_MAX_WORDS`` words, or several sentences): the model wrote around the
                        question instead of naming an answer, when ``require_answer_phrase`` is on;
``missing_key_terms``   a number or capitalised name of the question occurs in no passage;
``unstated_negation``   the question asks what is *not* so ("What does not solve ...?"), but neither
                        the passage sentences closest to the question nor the answer's evidence state
                        any negation or exclusion: the passages then say the opposite of what is asked,
                        and a small model answers from them regardless;
``stated_opposite``     a word of the question is missing from the passage sentences closest to it and
                        from the answer's evidence, but its opposite is there ("least" against "most",
                        "unsolved" against "solved"; ``opposites.py``), when ``reject_stated_opposite``
                        is on;
``low_support``         the answer's overall support (citation check) is below ``support_threshold``;
``key_terms_away_from_evidence`` a number or name of the question is missing from the sentences
                        around the answer's evidence (``coverage_window`` either side), when
                        ``key_terms_near_evidence`` is on;
``low_question_coverage`` the passage text around the answer's evidence holds too little of the
                        question (weighted content words): the answer comes from a passage about
                        something else, the usual shape of a plausible but unanswerable question.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from generation.adjustment.citations import CitationScorer, is_phrase
from generation.adjustment.config import AdjustmentConfig
from generation.adjustment.opposites import opposites
from generation.adjustment.sentences import content_words, passage_stems, sentence_spans, stems, weighted_terms
from generation.adjustment.types import AbstainSignals, Abstention, AdjustedAnswer, AdjustmentContext, Citation
from generation.types import Passage

_DECLINE_RE = re.compile(
    r"\b(?:i|we)\s+(?:do not|don't|cannot|can't|am unable to|are unable to)\s+(?:know|say|tell|answer|find|determine)"
    r"|\b(?:cannot|can't|unable to|not able to)\s+(?:be\s+)?(?:answer|determine|find|tell|say)"
    r"|\bnot\s+(?:mentioned|provided|stated|specified|given|included|covered|discussed|found)\b"
    r"|\bno\s+(?:information|mention|details?|data)\b"
    r"|\b(?:documents?|passages?|context|text|sources?)\s+(?:do(?:es)?\s*n[o']t|does not|do not)\s+"
    r"(?:say|mention|contain|state|provide|specify|include)"
    r"|\bthere is no(?:thing)?\b[^.]{0,40}\b(?:about|on|regarding)\b"
    r"|\b(?:does|do|did)\s*n[o']t\s+(?:contain|include|give|provide|have)\s+(?:the|an|any)\s+answer"
    r"|^\s*(?:unknown|n/?a|none)\s*\.?\s*$",
    re.IGNORECASE,
)


def model_declined(answer: str) -> bool:
    return _DECLINE_RE.search(answer) is not None


class AbstainStep:
    name = "abstain"

    def __init__(self, config: AdjustmentConfig) -> None:
        self.config = config

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        signals = AbstainSignals()
        reason = self._reason(state, ctx, signals)
        abstention = Abstention(reason, signals)
        if reason is None:
            return dataclasses.replace(state, abstention=abstention)
        return dataclasses.replace(
            state,
            answer=self.config.abstain_answer,
            abstained=True,
            citations=[],
            sentences=[],
            adjustments=[*state.adjustments, f"{self.name}:{reason}"],
            abstention=abstention,
        )

    def _reason(self, state: AdjustedAnswer, ctx: AdjustmentContext, signals: AbstainSignals) -> str | None:
        cfg = self.config
        if not ctx.passages:
            return "no_passages"
        relevances = [p.relevance for p in ctx.passages if p.relevance is not None]
        if relevances:
            signals.best_relevance = round(max(relevances), 4)
            if max(relevances) < cfg.min_relevance:
                return "low_relevance"
        answer = state.answer.strip()
        if not content_words(answer) and not re.search(r"\w", answer):
            return "empty_answer"
        if model_declined(answer):
            return "model_declined"
        if ctx.reading is not None:
            return self._reader_reason(state, ctx, signals)
        if ctx.detail == "short":
            signals.answer_phrase = is_phrase(answer)
            if cfg.require_answer_phrase and not signals.answer_phrase:
                return "no_answer_phrase"
        missing = missing_key_terms(ctx.question, ctx.passages)
        signals.missing_key_terms = missing
        if cfg.require_key_terms and missing:
            return "missing_key_terms"
        support, evidence = self._support(state, ctx)
        # The passage text closest to the question, and the answer's evidence: where a negation or an
        # opposite of the question would be stated.
        near = near_question(ctx.question, ctx.passages) + [cite.text for cite in evidence]
        negation = unstated_negation(ctx.question, near)
        signals.unstated_negation = negation
        if cfg.require_stated_negation and negation:
            return "unstated_negation"
        opposite = stated_opposite(ctx.question, near)
        signals.stated_opposite = opposite
        if cfg.reject_stated_opposite and opposite:
            return "stated_opposite"
        signals.support = round(support, 4)
        if support < cfg.support_threshold:
            return "low_support"
        if evidence:
            away = key_terms_away(ctx.question, evidence, ctx.passages, cfg.coverage_window)
            signals.key_terms_away_from_evidence = away
            if cfg.key_terms_near_evidence and away:
                return "key_terms_away_from_evidence"
            coverage = question_coverage(ctx.question, evidence, ctx.passages, cfg.coverage_window)
            signals.question_coverage = round(coverage, 4)
            if coverage < cfg.min_question_coverage:
                return "low_question_coverage"
        return None

    def _reader_reason(self, state: AdjustedAnswer, ctx: AdjustmentContext, signals: AbstainSignals) -> str | None:
        """With the grounding reader on: its calibrated no-answer evidence, then the checks it does not cover."""
        assert ctx.reading is not None
        signals.reader_answerable = round(ctx.reading.answerable, 4)
        if ctx.reading.answerable < ctx.reader_threshold:
            return "reader_no_answer"
        missing = missing_key_terms(ctx.question, ctx.passages)
        signals.missing_key_terms = missing
        if self.config.require_key_terms and missing:
            return "missing_key_terms"
        support, _ = self._support(state, ctx)
        signals.support = round(support, 4)
        if support < self.config.support_threshold:
            return "low_support"
        return None

    def _support(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> tuple[float, list[Citation]]:
        """The citation check's result when it ran; otherwise scored here the same way."""
        evidence = list(state.citations)
        check = state.support_check
        if check is not None:
            if check.evidence is not None and not evidence:
                evidence = [check.evidence]
            return state.support, evidence
        scorer = CitationScorer(ctx)
        if is_phrase(state.answer):
            scored = scorer.score_phrase(state.answer)
            return scored.support, [scored.span.citation()] if scored.span else []
        sentences = [state.answer[s:e] for s, e in sentence_spans(state.answer)]
        results = scorer.score_sentences(sentences)
        weights = [len(content_words(s)) for s in sentences]
        total = sum(weights)
        support = sum(r.support * w for r, w in zip(results, weights, strict=True)) / total if total else 1.0
        return support, [r.span.citation() for r in results if r.span is not None]


# A negation in a question: "not", "never", "no", "n't", ... but not "not only" or "not just", and not the
# alternative of "whether or not" and "may or may not", which the _NOT_A_NEGATION_RE removes first.
_QUESTION_NEGATION_RE = re.compile(
    r"\b(?:not|never|no|none|neither|nor|without|cannot)\b(?!\s+(?:only|just|merely)\b)|\w+n['’]t\b",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_NOT_A_NEGATION_RE = re.compile(r"\bor\s+(?:\w+\s+)?not\b", re.IGNORECASE)
# What states a negation in a passage: the words above, and words of exclusion, absence and failure.
_STATED_NEGATION_RE = re.compile(
    r"\b(?:not|never|no|none|neither|nor|without|cannot|nothing|nobody|nowhere|except|excluding|unless|"
    r"instead|rather|unlike|only|lacks?|lacking|lacked|absent|absence|unable|fails?|failed|failure|"
    r"non-?\w+|un(?:able|known|solved|decidable|likely))\b|\w+n['’]t\b",
    re.IGNORECASE,
)


def question_negation(question: str) -> str | None:
    """The negation word of a question that asks what is not so, if it has one."""
    match = _QUESTION_NEGATION_RE.search(_NOT_A_NEGATION_RE.sub(" ", question))
    return match.group(0).lower() if match else None


def unstated_negation(question: str, near: list[str]) -> str | None:
    """The question's negation word when the texts ``near`` it (``near_question`` and the evidence) state none.

    A question that borrows a sentence of the passage and negates it ("What does not solve the problem
    of sorting ...?" against "This solves the problem of sorting ...") is the usual shape of a question
    whose answer is not in the documents.
    """
    negation = question_negation(question)
    if negation is None:
        return None
    return None if any(_STATED_NEGATION_RE.search(text) for text in near) else negation


def stated_opposite(question: str, near: list[str]) -> str | None:
    """The pair "asked~stated" when a word of the question is missing from the texts ``near`` it but its
    opposite is there.

    "What is one of the least important open questions?" against "... one of the most important open
    questions ...": the passages state the opposite of what is asked. Words are compared whole (lower
    case); the opposite must not be in the question too ("most and least").
    """
    asked = {w.lower() for w in _WORD_RE.findall(question)}
    stated = {w.lower() for text in near for w in _WORD_RE.findall(text)}
    for word in sorted(asked - stated):
        hits = sorted((opposites(word) & stated) - asked)
        if hits:
            return f"{word}~{hits[0]}"
    return None


def near_question(question: str, passages: Sequence[Passage]) -> list[str]:
    """The passage sentences sharing the most content words with the question (all of them, when several tie)."""
    wanted = stems(content_words(question))
    scored: list[tuple[int, str]] = []
    for p in passages:
        for s, e in sentence_spans(p.text):
            sentence = p.text[s:e]
            scored.append((len(wanted & stems(content_words(sentence))), sentence))
    best = max((n for n, _ in scored), default=0)
    return [sentence for n, sentence in scored if n == best and n > 0]


def missing_key_terms(question: str, passages: Sequence[Passage]) -> list[str]:
    """Numbers and capitalised names of the question that occur in no passage."""
    have: set[str] = set()
    for p in passages:
        have |= passage_stems(p.text)
    return sorted(t for t, w in weighted_terms(question).items() if w >= 2 and t not in have)


def _window_stems(cite: Citation, passages: Sequence[Passage], window: int) -> set[str] | None:
    """Content-word stems of the passage sentences around a citation (``window`` sentences either side)."""
    p = next((p for p in passages if p.rank == cite.number), None)
    if p is None:
        return None
    local = sentence_spans(p.text)
    if not local:
        return set()
    lo, hi = cite.start - p.start, cite.end - p.start
    idx = [i for i, (s, e) in enumerate(local) if s < hi and e > lo] or [0]
    first, last = max(0, idx[0] - window), min(len(local) - 1, idx[-1] + window)
    # The passage's first sentence too: it usually names the topic that later sentences call "they".
    window_text = p.text[local[first][0] : local[last][1]] + " " + p.text[local[0][0] : local[0][1]]
    return passage_stems(window_text)


def key_terms_away(question: str, evidence: list[Citation], passages: Sequence[Passage], window: int) -> list[str]:
    """Numbers and names of the question absent near every piece of evidence ([] if one holds them all).

    An unanswerable question often borrows a name from elsewhere in the passage: the answer the model
    found then sits in sentences that never mention it.
    """
    key = {t for t, w in weighted_terms(question).items() if w >= 2}
    if not key:
        return []
    best: set[str] | None = None
    for cite in evidence:
        around = _window_stems(cite, passages, window)
        if around is None:
            continue
        missing = key - around
        if best is None or len(missing) < len(best):
            best = missing
    return sorted(best or ())


def question_coverage(question: str, evidence: list[Citation], passages: Sequence[Passage], window: int) -> float:
    """Weighted share of the question's content words found near the evidence (best over the evidence spans)."""
    terms = weighted_terms(question)
    total = sum(terms.values())
    if total < 3:  # one or two plain words: too little to judge by
        return 1.0
    best = 0.0
    for cite in evidence:
        around = _window_stems(cite, passages, window)
        if around is not None:
            best = max(best, sum(w for t, w in terms.items() if t in around) / total)
    return best
