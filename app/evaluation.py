"""`rag eval`: check a running service on your own questions, scored without any model.

A question file is JSON Lines; each line holds a question and what a right answer contains, or
``"unanswerable"`` when the documents do not say::

    {"question": "Who built the lighthouse?", "answer": "Marta Quill"}
    {"question": "When did it close?", "answer": "unanswerable"}
    {"question": "How far is the lamp seen?", "answers": ["22 nautical miles", "22 miles"]}

Each answer lands in one of three outcomes:

* ``correct``: an answerable question answered with one of its expected answers (SQuAD normalisation:
  case, punctuation and articles ignored; the expected answer appears in the answer, or the two share
  at least half their words by token F1), or an unanswerable question abstained on;
* ``abstained``: an answerable question the service declined to answer;
* ``wrong`` (confidently wrong): an answer that is not an expected one, or any answer to an
  unanswerable question.
"""

from __future__ import annotations

import collections
import json
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

UNANSWERABLE = "unanswerable"
MATCH_F1 = 0.5

Outcome = Literal["correct", "abstained", "wrong", "error"]


class QuestionFileError(ValueError):
    """A question file line that cannot be used, with its line number."""


@dataclass(frozen=True)
class EvalQuestion:
    line: int
    question: str
    answers: tuple[str, ...]  # empty: unanswerable

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def parse_question(line_number: int, line: str) -> EvalQuestion:
    where = f"line {line_number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"{where} is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(item, dict):
        raise QuestionFileError(f'{where} is not a JSON object such as {{"question": ..., "answer": ...}}')
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionFileError(f'{where} has no "question" text')
    expected = item.get("answers", item.get("answer"))
    if isinstance(expected, str):
        expected = [expected]
    if not isinstance(expected, list) or not expected or not all(isinstance(a, str) and a.strip() for a in expected):
        raise QuestionFileError(f'{where} needs "answer": the expected answer, or "{UNANSWERABLE}"')
    if any(a.strip().lower() == UNANSWERABLE for a in expected):
        if len(expected) > 1:
            raise QuestionFileError(f'{where} mixes "{UNANSWERABLE}" with expected answers')
        return EvalQuestion(line_number, question.strip(), ())
    return EvalQuestion(line_number, question.strip(), tuple(a.strip() for a in expected))


def load_questions(path: Path) -> list[EvalQuestion]:
    """Every question in a JSON Lines file (blank lines skipped); QuestionFileError names a bad line."""
    questions = [
        parse_question(number, line)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip()
    ]
    if not questions:
        raise QuestionFileError(f"{path} holds no questions")
    return questions


_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    same = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if not pred or not ref or same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def matches(answer: str, expected: Iterable[str]) -> bool:
    said = normalize(answer)
    return any(
        (normalize(gold) and f" {normalize(gold)} " in f" {said} ") or token_f1(answer, gold) >= MATCH_F1
        for gold in expected
    )


def judge(question: EvalQuestion, answer: str, abstained: bool) -> Outcome:
    if not question.answerable:
        return "correct" if abstained else "wrong"
    if abstained:
        return "abstained"
    return "correct" if matches(answer, question.answers) else "wrong"


@dataclass
class Tally:
    """Counts of outcomes, overall and for answerable and unanswerable questions apart."""

    answerable: collections.Counter[str] = field(default_factory=collections.Counter)
    unanswerable: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, question: EvalQuestion, outcome: Outcome) -> None:
        (self.answerable if question.answerable else self.unanswerable)[outcome] += 1

    def total(self, outcome: Outcome) -> int:
        return self.answerable[outcome] + self.unanswerable[outcome]

    def lines(self) -> list[str]:
        n_ans, n_una = sum(self.answerable.values()), sum(self.unanswerable.values())
        head = (
            f"{n_ans + n_una} questions: correct {self.total('correct')}, abstained {self.total('abstained')}, "
            f"confidently wrong {self.total('wrong')}"
        )
        if self.total("error"):
            head += f", failed {self.total('error')}"
        out = [head]
        if n_ans:
            a = self.answerable
            out.append(f"  answerable {n_ans}: correct {a['correct']}, abstained {a['abstained']}, wrong {a['wrong']}")
        if n_una:
            u = self.unanswerable
            out.append(f"  unanswerable {n_una}: abstained (correct) {u['correct']}, answered (wrong) {u['wrong']}")
        return out


def report_row(
    question: EvalQuestion, outcome: Outcome, body: dict[str, Any] | None, error: str | None = None
) -> dict[str, Any]:
    """One line of the per-question report."""
    row: dict[str, Any] = {
        "line": question.line,
        "question": question.question,
        "expected": list(question.answers) or UNANSWERABLE,
        "outcome": outcome,
    }
    if body is not None:
        row.update(
            answer=body.get("answer"),
            abstained=body.get("abstained"),
            support=body.get("support"),
            answer_id=body.get("answer_id"),
            citations=[
                {k: c.get(k) for k in ("source", "page", "start", "end", "text")} for c in body.get("citations", [])
            ],
        )
    if error is not None:
        row["error"] = error
    return row
