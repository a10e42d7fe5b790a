"""From start/end logits to answer spans: a pure function, as transformers' ``postprocess_qa_predictions``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_ANSWER_TOKENS = 30
N_BEST = 20
_BOUNDARY = re.compile(r"[\n\t]")


@dataclass(frozen=True)
class Span:
    """A candidate answer: characters [start, end) of one passage, with its score and the null score beside it."""

    passage: int
    start: int
    end: int
    score: float  # start logit + end logit
    null_score: float  # the [CLS] start + end logits of the window it came from

    @property
    def margin(self) -> float:
        """How far the span beats "no answer" in its own window (the SQuAD 2.0 null score difference)."""
        return self.score - self.null_score


def window_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    *,
    passage: int,
    text: str | None = None,
    n_best: int = N_BEST,
    max_answer_tokens: int = MAX_ANSWER_TOKENS,
) -> tuple[list[Span], float]:
    """The ``n_best`` best spans of one window, and its null score (``start[0] + end[0]``).

    A span must start and end on passage tokens, end at or after its start, and be at most ``max_answer_tokens``
    long. Given the passage ``text``, a span never crosses a line break or a tab (a table cell's edge, as parsed
    tables are written): an answer is one value, not a row or a header.
    """
    null = float(start_logits[0] + end_logits[0])
    context = np.array([o is not None for o in offsets])
    if not context.any():
        return [], null
    s_logits = np.where(context, start_logits, -np.inf)
    e_logits = np.where(context, end_logits, -np.inf)
    starts = np.argsort(s_logits)[::-1][:n_best]
    ends = np.argsort(e_logits)[::-1][:n_best]
    spans: list[Span] = []
    for s in starts:
        if not context[s]:
            continue
        for e in ends:
            if not context[e] or e < s or e - s + 1 > max_answer_tokens:
                continue
            so, eo = offsets[s], offsets[e]
            assert so is not None and eo is not None
            if text is not None and _BOUNDARY.search(text, so[0], eo[1]):
                continue
            spans.append(Span(passage, so[0], eo[1], float(s_logits[s] + e_logits[e]), null))
    spans.sort(key=lambda sp: sp.score, reverse=True)
    return spans[:n_best], null


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Best-first spans with duplicates (same passage and characters, from overlapping windows) removed."""
    best: dict[tuple[int, int, int], Span] = {}
    for sp in spans:
        key = (sp.passage, sp.start, sp.end)
        if key not in best or sp.margin > best[key].margin:
            best[key] = sp
    return sorted(best.values(), key=lambda sp: sp.margin, reverse=True)
