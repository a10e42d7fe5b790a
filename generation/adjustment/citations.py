"""Citation check: which passage text supports each answer sentence, and how well.

Support of a sentence against a span of passage text (one passage sentence or two adjacent ones):

* lexical: the weighted share of the sentence's content words found in the span (numbers weigh 3,
  capitalised names 2, other words 1, compared by crude stems);
* semantic (when ``ctx.embed`` is given): the cosine of the two embeddings mapped to 0..1 through
  ``(cos - 0.25) / 0.5``; all-MiniLM-L6-v2 gives unrelated sentences about 0..0.25 and paraphrases 0.7+;
* combined: ``max(lexical, (lexical + semantic) / 2)`` (a paraphrase may score by meaning, a verbatim
  copy by words), times the share of the sentence's numbers found in the span's passage: a number the
  passage does not hold is never supported by it.

Short answers (a single phrase of at most 8 words, whatever ``detail`` says) are checked by
occurrence: the phrase found in a passage (case, punctuation and a leading article aside) scores 1.0
and is cited at the exact occurrence; a phrase not found verbatim is scored like a sentence.

A span that reads like an instruction to the assistant (see ``injection.py``) supports nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generation.adjustment.injection import looks_like_instruction
from generation.adjustment.sentences import (
    MARKER_RE,
    content_words,
    passage_stems,
    sentence_spans,
    tokens,
    weighted_terms,
    with_other_spellings,
)
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext, Citation, SentenceSupport, SupportCheck
from generation.types import Passage

PHRASE_MAX_WORDS = 8
_SEM_FLOOR, _SEM_RANGE = 0.25, 0.5
_LEADING_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    passage: Passage
    start: int  # local offsets into passage.text
    end: int

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]

    def citation(self) -> Citation:
        p = self.passage
        return Citation(p.rank, p.document_id, p.source, p.page, p.start + self.start, p.start + self.end, self.text)


@dataclass(frozen=True)
class Scored:
    support: float
    span: Span | None
    by_passage: dict[int, float] = dataclasses.field(default_factory=dict)  # best score per passage number


def is_phrase(text: str) -> bool:
    """A short answer with no sentence punctuation: "Denver Broncos", "1066"."""
    clean = MARKER_RE.sub("", text).strip()
    return bool(clean) and len(clean.split()) <= PHRASE_MAX_WORDS and not re.search(r"[.!?]\s+\S", clean)


def candidate_spans(passages: Sequence[Passage]) -> list[Span]:
    """Every passage sentence, and every pair of adjacent sentences."""
    spans: list[Span] = []
    for p in passages:
        local = sentence_spans(p.text)
        spans.extend(Span(p, s, e) for s, e in local)
        spans.extend(Span(p, local[i][0], local[i + 1][1]) for i in range(len(local) - 1))
    return spans


def lexical_support(sentence_terms: dict[str, float], span_stems: set[str]) -> float:
    total = sum(sentence_terms.values())
    if total == 0:
        return 0.0
    return sum(w for t, w in sentence_terms.items() if t in span_stems) / total


def number_factor(sentence: str, passage_text: str) -> float:
    numbers = {t for t in tokens(MARKER_RE.sub(" ", sentence)) if t[:1].isdigit()}
    if not numbers:
        return 1.0
    have = {t for t in with_other_spellings(set(tokens(passage_text))) if t[:1].isdigit()}
    return len(numbers & have) / len(numbers)


def find_phrase(phrase: str, passages: Sequence[Passage]) -> Span | None:
    """First occurrence of ``phrase`` in the passages, ignoring case, punctuation between words, a leading article."""
    words = re.findall(r"\w+", _LEADING_ARTICLE_RE.sub("", MARKER_RE.sub("", phrase).strip()))
    if not words:
        return None
    pattern = re.compile(r"(?<!\w)" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE)
    for p in passages:
        m = pattern.search(p.text)
        if m:
            return Span(p, m.start(), m.end())
    return None


class CitationScorer:
    """Scores texts against a fixed set of passages; the passage side is prepared once."""

    def __init__(self, ctx: AdjustmentContext) -> None:
        self.ctx = ctx
        self.spans = candidate_spans(ctx.passages)
        self.span_stems = [passage_stems(s.text) for s in self.spans]
        self.span_vectors: np.ndarray | None = None

    def score_sentences(self, sentences: list[str]) -> list[Scored]:
        sent_vectors: np.ndarray | None = None
        if self.ctx.embed is not None and self.spans and sentences:
            clean = [MARKER_RE.sub("", s) for s in sentences]
            vectors = np.asarray(self.ctx.embed(clean + [s.text for s in self.spans]), dtype=np.float32)
            sent_vectors, self.span_vectors = vectors[: len(clean)], vectors[len(clean) :]  # (S, D), (P, D)
        results = []
        for i, sentence in enumerate(sentences):
            sims = None if sent_vectors is None or self.span_vectors is None else self.span_vectors @ sent_vectors[i]
            results.append(self._score(sentence, sims))
        return results

    def _score(self, sentence: str, sims: np.ndarray | None) -> Scored:
        terms = weighted_terms(sentence)
        best = Scored(0.0, None)
        by_passage: dict[int, float] = {}
        for j, span in enumerate(self.spans):
            lex = lexical_support(terms, self.span_stems[j])
            score = lex
            if sims is not None:
                sem = float(np.clip((sims[j] - _SEM_FLOOR) / _SEM_RANGE, 0.0, 1.0))
                score = max(lex, (lex + sem) / 2)
            score *= number_factor(sentence, span.passage.text)
            n = span.passage.rank
            by_passage[n] = max(by_passage.get(n, 0.0), score)
            # Single sentences come first, so a tie keeps the tighter citation.
            if score > best.support + 1e-9:
                best = Scored(score, span)
        if best.span is not None and looks_like_instruction(best.span.text):
            return Scored(0.0, best.span, {})
        return Scored(best.support, best.span, by_passage)

    def score_phrase(self, phrase: str) -> Scored:
        span = find_phrase(phrase, self.ctx.passages)
        if span is not None:
            sentence = _enclosing_sentence(span)
            return Scored(0.0 if looks_like_instruction(sentence) else 1.0, span)
        # Not verbatim ("the leader was Rollo"): scored like a sentence, by words and meaning.
        return self.score_sentences([phrase])[0]


def _enclosing_sentence(span: Span) -> str:
    for s, e in sentence_spans(span.passage.text):
        if s <= span.start < e:
            return span.passage.text[s:e]
    return span.text


class CitationStep:
    name = "citations"

    def __init__(self, unsupported: str = "flag", threshold: float = 0.5) -> None:
        if unsupported not in ("flag", "drop"):
            raise ValueError(f"unsupported must be 'flag' or 'drop', not {unsupported!r}")
        self.unsupported = unsupported
        self.threshold = threshold

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        text = state.answer
        if not text.strip():
            return dataclasses.replace(state, sentences=[], citations=[], support=0.0)
        scorer = CitationScorer(ctx)
        labels = list(state.adjustments)
        if is_phrase(text):
            return self._apply_phrase(state, scorer)

        spans = sentence_spans(text)
        sentences = [text[s:e] for s, e in spans]
        scored_all = scorer.score_sentences(sentences)
        valid = {p.rank for p in ctx.passages}
        out_parts: list[str] = []
        last = 0
        results: list[SentenceSupport] = []
        citations: list[Citation] = []
        corrected = dropped = 0
        for (start, end), sentence, scored in zip(spans, sentences, scored_all, strict=True):
            out_parts.append(text[last:start])
            last = end
            if not content_words(sentence):  # "Yes." - nothing to check; it neither helps nor hurts
                out_parts.append(sentence)
                results.append(SentenceSupport(sentence, 1.0, (), True))
                continue
            ok = scored.support >= self.threshold
            best = scored.span.passage.rank if scored.span is not None else None
            if ok and best is not None:
                sentence, fixed = _correct_markers(sentence, best, valid, scored)
                corrected += fixed
            if not ok and self.unsupported == "drop":
                dropped += 1
                continue
            out_parts.append(sentence)
            nums: tuple[int, ...] = ()
            if ok and scored.span is not None:
                cite = scored.span.citation()
                if cite not in citations:
                    citations.append(cite)
                nums = (cite.number,)
            results.append(SentenceSupport(sentence, round(scored.support, 4), nums, ok))
        out_parts.append(text[last:])
        # Overall support is judged on what the model wrote, dropped sentences included.
        weights = [float(len(content_words(x))) for x in sentences]
        support = float(np.average([x.support for x in scored_all], weights=weights)) if sum(weights) > 0 else 1.0
        if corrected:
            labels.append(f"{self.name}:corrected_markers")
        if dropped:
            labels.append(f"{self.name}:dropped_unsupported")
        elif any(not r.supported for r in results):
            labels.append(f"{self.name}:flagged_unsupported")
        new_text = re.sub(r"[ \t]{2,}", " ", "".join(out_parts)).strip()
        check = SupportCheck("sentences", unsupported_sentences=sum(not r.supported for r in results))
        return dataclasses.replace(
            state,
            answer=new_text,
            sentences=results,
            citations=citations,
            support=round(support, 4),
            adjustments=labels,
            support_check=check,
        )

    def _apply_phrase(self, state: AdjustedAnswer, scorer: CitationScorer) -> AdjustedAnswer:
        scored = scorer.score_phrase(state.answer)
        ok = scored.support >= self.threshold
        cites = [scored.span.citation()] if scored.span is not None and ok else []
        result = SentenceSupport(state.answer, round(scored.support, 4), tuple(c.number for c in cites), ok)
        labels = [*state.adjustments] + ([] if ok else [f"{self.name}:flagged_unsupported"])
        check = SupportCheck("phrase", evidence=scored.span.citation() if scored.span is not None else None)
        return dataclasses.replace(
            state, sentences=[result], citations=cites, support=result.support, adjustments=labels, support_check=check
        )


def _correct_markers(sentence: str, best: int, valid: set[int], scored: Scored) -> tuple[str, int]:
    """A cited [n] whose passage supports the sentence clearly less than the best one becomes [best]."""
    cited = [int(n) for n in re.findall(r"\[(\d{1,3})\]", sentence)]
    if not cited or best in cited:
        return sentence, 0
    fixed = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal fixed
        n = int(m.group(1))
        if n in valid and scored.by_passage.get(n, 0.0) >= scored.support * 0.8:
            return m.group()
        fixed += 1
        return f"[{best}]"

    new = re.sub(r"\[(\d{1,3})\]", repl, sentence)
    # Two markers corrected to the same passage collapse to one.
    new = re.sub(rf"(\[{best}\])(?:\s*\[{best}\])+", r"\1", new)
    return new, fixed
