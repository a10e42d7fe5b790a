"""SQuAD files as training pairs for the grounding model, split into train and validation by article."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding.features import claim_text
from grounding.metric import normalize_answer


@dataclass(frozen=True)
class Question:
    id: str
    article: str
    question: str
    context: str
    answers: tuple[str, ...]  # empty: unanswerable
    answer_start: int | None  # of answers[0]
    derived: bool  # answer offset found by text search, not given


@dataclass(frozen=True)
class TrainPair:
    """One training input before tokenising."""

    first: str  # a question, or a question with a claim appended
    passage: str
    answer: tuple[int, int] | None  # characters of the answer in ``passage``; None: no answer here
    span_loss: bool  # claims teach only the support head
    kind: str  # "answerable", "unanswerable", "other_paragraph", "claim_true", "claim_false"


def read_squad(path: Path) -> Iterator[Question]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible")) or not qa["answers"]
                answers = () if impossible else tuple(a["text"] for a in qa["answers"])
                start = None if impossible else int(qa["answers"][0]["answer_start"])
                yield Question(
                    id=qa["id"],
                    article=article["title"],
                    question=qa["question"],
                    context=para["context"],
                    answers=answers,
                    answer_start=start,
                    derived=bool(qa.get("offsets_derived")),
                )


def split_articles(questions: list[Question], n_validation: int, seed: int) -> tuple[set[str], set[str]]:
    """(train, validation) article titles: validation is ``n_validation`` whole articles, never single questions."""
    titles = sorted({q.article for q in questions})
    random.Random(seed).shuffle(titles)
    return set(titles[n_validation:]), set(titles[:n_validation])


def ambiguous_offset(q: Question) -> bool:
    """True when the offset was derived by text search and the answer occurs more than once in the context.

    Only those derived offsets can point at the wrong occurrence.
    """
    return q.derived and bool(q.answers) and q.context.count(q.answers[0]) > 1


def _span(q: Question) -> tuple[int, int] | None:
    if not q.answers or q.answer_start is None:
        return None
    text = q.answers[0]
    if q.context[q.answer_start : q.answer_start + len(text)] != text:
        return None
    return q.answer_start, q.answer_start + len(text)


def build_pairs(
    questions: list[Question], *, other_paragraph_rate: float, claim_rate: float, seed: int
) -> list[TrainPair]:
    """Span pairs for every question, plus sampled relevance negatives and claim pairs.

    - other_paragraph: the question against another paragraph of its article (what retrieval wrongly returns);
    - claim_true / claim_false: the question with its answer, or with another question's answer from the same
      paragraph, appended; only the support head learns from these.
    """
    rng = random.Random(seed)
    by_article: dict[str, list[str]] = {}
    answers_by_context: dict[str, list[str]] = {}
    for q in questions:
        paras = by_article.setdefault(q.article, [])
        if not paras or paras[-1] != q.context:
            paras.append(q.context)
        if q.answers:
            answers_by_context.setdefault(q.context, []).append(q.answers[0])
    pairs: list[TrainPair] = []
    for q in questions:
        span = _span(q)
        if q.answers and span is None:
            continue
        kind = "answerable" if span else "unanswerable"
        pairs.append(TrainPair(q.question, q.context, span, True, kind))
        others = [p for p in by_article[q.article] if p != q.context]
        if others and rng.random() < other_paragraph_rate:
            other = rng.choice(others)
            # The answer text may occur in another paragraph too; then that paragraph is no clean negative.
            if not (q.answers and q.answers[0] in other):
                pairs.append(TrainPair(q.question, other, None, True, "other_paragraph"))
        if span and rng.random() < claim_rate:
            gold = normalize_answer(q.answers[0])
            wrong = [
                a
                for a in answers_by_context.get(q.context, [])
                if normalize_answer(a) and gold not in normalize_answer(a) and normalize_answer(a) not in gold
            ]
            if wrong and rng.random() < 0.5:
                pairs.append(
                    TrainPair(claim_text(q.question, rng.choice(wrong)), q.context, None, False, "claim_false")
                )
            else:
                pairs.append(TrainPair(claim_text(q.question, q.answers[0]), q.context, span, False, "claim_true"))
    return pairs
