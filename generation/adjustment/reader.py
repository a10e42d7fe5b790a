"""The reader step: a fine-tuned reading-comprehension model checks and corrects the generated answer.

It runs after the citation check and before abstention, on the reader's findings over the passages the answer
used (``AdjustmentContext.reading``, computed by the caller, batched across requests):

- **correct**: when the reader is confident (calibrated answerability at or above ``reader_threshold``) and the
  generated answer disagrees with its span (a short answer that is not that phrase; a longer one with no sentence
  that states it), the answer becomes the span, cited at its exact source offsets (``correct:reader_span``);
- **verify**: for a longer answer that agrees, each sentence is judged by the model (``ctx.verify``); sentences it
  does not support are flagged or dropped, as the citation check does (``reader:flagged_unverified`` /
  ``reader:dropped_unverified``).

Abstention on the reader's no-answer evidence is the abstain step's (``reader_no_answer``). The causal LM still
writes every answer; the reader only checks and corrects it.
"""

from __future__ import annotations

import dataclasses
import re

from generation.adjustment.sentences import content_words
from generation.adjustment.types import (
    AdjustedAnswer,
    AdjustmentContext,
    Citation,
    ReaderCheck,
    ReaderSpan,
    SentenceSupport,
)

_PUNCT = re.compile(r"[^\w\s]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _norm_tokens(text: str) -> list[str]:
    return _ARTICLES.sub(" ", _PUNCT.sub(" ", text.lower())).split()


def agrees(answer: str, span: str) -> bool:
    """True when the answer states the span: every word of the span, in order, is in the answer."""
    want, have = _norm_tokens(span), _norm_tokens(answer)
    if not want:
        return False
    n = len(want)
    return any(have[i : i + n] == want for i in range(len(have) - n + 1))


def _phrase_agrees(answer: str, span: str) -> bool:
    """A short answer agrees when it states the span and adds at most as many words again."""
    return agrees(answer, span) and len(_norm_tokens(answer)) <= 2 * len(_norm_tokens(span)) + 1


class ReaderStep:
    name = "reader"

    def __init__(self, unsupported: str = "flag", verify_threshold: float = 0.5) -> None:
        if unsupported not in ("flag", "drop"):
            raise ValueError(f"unsupported must be 'flag' or 'drop', not {unsupported!r}")
        self.unsupported = unsupported
        self.verify_threshold = verify_threshold

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        reading = ctx.reading
        if reading is None or not ctx.passages:
            return state
        span = reading.best if reading.answerable >= ctx.reader_threshold else None
        span_text = self._span_text(span, ctx) if span is not None else None
        check = ReaderCheck(answerable=round(reading.answerable, 4), span=span_text, corrected=False)
        if span is not None and span_text:
            short = ctx.detail == "short"
            disagrees = not (_phrase_agrees(state.answer, span_text) if short else agrees(state.answer, span_text))
            if disagrees or not state.answer.strip():
                return self._correct(state, ctx, span, span_text, check)
        if ctx.detail != "short" and ctx.verify is not None and self.verify_threshold > 0 and state.sentences:
            return self._verify(state, ctx, check)
        return dataclasses.replace(state, reader_check=check)

    @staticmethod
    def _span_text(span: ReaderSpan, ctx: AdjustmentContext) -> str:
        if not 0 <= span.passage < len(ctx.passages):
            return ""
        return ctx.passages[span.passage].text[span.start : span.end].strip()

    def _correct(
        self, state: AdjustedAnswer, ctx: AdjustmentContext, span: ReaderSpan, text: str, check: ReaderCheck
    ) -> AdjustedAnswer:
        passage = ctx.passages[span.passage]
        raw = passage.text[span.start : span.end]
        lead = len(raw) - len(raw.lstrip())
        start = passage.start + span.start + lead
        citation = Citation(
            number=passage.rank,
            document_id=passage.document_id,
            source=passage.source,
            page=passage.page,
            start=start,
            end=start + len(text),
            text=text,
        )
        answer = text if ctx.detail == "short" else f"{text} [{passage.rank}]."
        sentence = SentenceSupport(
            answer, round(ctx.reading.answerable if ctx.reading else 1.0, 4), (passage.rank,), True
        )
        return dataclasses.replace(
            state,
            answer=answer,
            citations=[citation],
            sentences=[sentence],
            support=1.0,
            adjustments=[*state.adjustments, "correct:reader_span"],
            reader_check=dataclasses.replace(check, corrected=True),
        )

    def _verify(self, state: AdjustedAnswer, ctx: AdjustmentContext, check: ReaderCheck) -> AdjustedAnswer:
        assert ctx.verify is not None
        checked = [s for s in state.sentences if content_words(s.text)]
        if not checked:
            return dataclasses.replace(state, reader_check=check)
        probs = ctx.verify(ctx.question, [s.text for s in checked], [p.text for p in ctx.passages])
        verdict = {id(s): float(p) for s, p in zip(checked, probs, strict=True)}
        answer, sentences, unverified = state.answer, [], 0
        for s in state.sentences:
            p = verdict.get(id(s))
            if p is None:
                sentences.append(s)
                continue
            ok = s.supported and p >= self.verify_threshold
            if not ok:
                unverified += 1
                if self.unsupported == "drop":
                    answer = answer.replace(s.text, "", 1)
                    continue
            sentences.append(
                dataclasses.replace(s, support=round(p, 4), supported=ok, citations=s.citations if ok else ())
            )
        labels = list(state.adjustments)
        if unverified:
            labels.append(f"{self.name}:{'dropped' if self.unsupported == 'drop' else 'flagged'}_unverified")
        kept_numbers = {n for s in sentences if s.supported for n in s.citations}
        citations = [c for c in state.citations if c.number in kept_numbers]
        support = sum(s.support for s in sentences) / len(sentences) if sentences else 0.0
        return dataclasses.replace(
            state,
            answer=re.sub(r"[ \t]{2,}", " ", answer).strip(),
            sentences=sentences,
            citations=citations,
            support=round(support, 4),
            adjustments=labels,
            reader_check=dataclasses.replace(check, unverified_sentences=unverified),
        )
