"""The workplace evaluation set: its documents parse, its gold answers are in them, and its scoring rule."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.workplace_eval import DATA, DOCUMENTS, contains, load_questions, outcome, tokens
from retrieval.parsing.dispatch import parse_document

QUESTIONS = load_questions(DATA / "questions.jsonl")


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {name: parse_document(name, (DATA / name).read_bytes()).text for name in DOCUMENTS}


def test_the_set_has_enough_questions_of_each_kind() -> None:
    assert sum(q.answerable for q in QUESTIONS) >= 30
    assert sum(not q.answerable for q in QUESTIONS) >= 10
    assert {q.document for q in QUESTIONS} == set(DOCUMENTS)
    assert len({q.text for q in QUESTIONS}) == len(QUESTIONS)


def test_every_line_is_in_the_rag_eval_format() -> None:
    for line in (DATA / "questions.jsonl").read_text().splitlines():
        item = json.loads(line)
        assert isinstance(item["question"], str)
        assert isinstance(item.get("answer"), str) != isinstance(item.get("answers"), list)


def test_every_gold_answer_is_in_its_document(texts: dict[str, str]) -> None:
    for q in QUESTIONS:
        if q.answerable:
            assert q.document is not None
            assert any(contains(texts[q.document], gold) for gold in q.answers), q.text


def test_the_pdf_parser_keeps_clauses_tables_and_phone_numbers(texts: dict[str, str]) -> None:
    pdf = texts["travel-policy.pdf"]
    assert "2.3 A trip whose total cost is above £2,500" in pdf
    assert re.search(r"Japan JPY 11,000", pdf)
    assert contains(pdf, "+44 20 7946 0999")  # wrapped across a line
    assert "Page 2 of 2" in pdf


def test_the_html_page_loses_its_scripts_and_keeps_its_tables(texts: dict[str, str]) -> None:
    page = texts["it-facilities.html"]
    assert "yardAnalytics" not in page
    assert "P1 Critical\tOffice network down" in page


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("Primary caregivers get 16 weeks at full pay.", "16 weeks", True),
        ("116 weeks", "16 weeks", False),
        ("4 weeks", "16 weeks", False),
        ("£220/night", "£220", True),
        ("220", "£220", False),
        ("£1200 a year", "£1,200", True),
        ("Version 21", "2.1", False),
        ("It is version 2.1.", "2.1", True),
        ("+44 (20) 7946-0999", "+44 20 7946 0999", True),
        ("Call the BRK Guest network", "BRK-Guest", True),
        ("The Line Manager", "line manager", True),
    ],
)
def test_contains_compares_whole_tokens(answer: str, gold: str, expected: bool) -> None:
    assert contains(answer, gold) is expected


def test_tokens_ignore_case_articles_and_separators() -> None:
    assert tokens("The £1,200/year budget") == ["£", "1200", "year", "budget"]


def test_outcomes() -> None:
    answerable = next(q for q in QUESTIONS if q.answerable)
    unanswerable = next(q for q in QUESTIONS if not q.answerable)
    assert outcome(answerable, answerable.answers[0], abstained=False) == "correct"
    assert outcome(answerable, "no idea", abstained=True) == "abstained"
    assert outcome(answerable, "1", abstained=False) == "wrong"
    assert outcome(unanswerable, "", abstained=True) == "correct"
    assert outcome(unanswerable, "20", abstained=False) == "wrong"
