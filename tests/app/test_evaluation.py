"""`rag eval`'s scoring (pure functions), and the command against a running server with the real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.evaluation import EvalQuestion, QuestionFileError, Tally, judge, load_questions, matches, parse_question
from app.settings import Settings
from tests.app.conftest import running_server, upload

REPO = Path(__file__).resolve().parents[2]

DOCUMENT = (
    "The Zorblat lighthouse on Kelvin Island was built in 1887 by the engineer Marta Quill.\n\n"
    "Its lamp can be seen from 22 nautical miles away. The keeper, Tomas Brenn, lived there for thirty years.\n"
)


def test_question_lines() -> None:
    q = parse_question(1, '{"question": " Who built it? ", "answer": "Marta Quill"}')
    assert q == EvalQuestion(1, "Who built it?", ("Marta Quill",)) and q.answerable
    assert parse_question(2, '{"question": "Why?", "answer": "Unanswerable"}').answers == ()
    assert parse_question(3, '{"question": "How far?", "answers": ["22 miles", "22 nautical miles"]}').answers == (
        "22 miles",
        "22 nautical miles",
    )
    for bad, why in (
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ('{"answer": "x"}', '"question"'),
        ('{"question": "Who?"}', '"answer"'),
        ('{"question": "Who?", "answers": []}', '"answer"'),
        ('{"question": "Who?", "answers": ["x", "unanswerable"]}', "mixes"),
    ):
        with pytest.raises(QuestionFileError, match=why):
            parse_question(7, bad)


def test_load_questions_skips_blank_lines_and_names_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "A?", "answer": "a"}\n\n{"question": "B?", "answer": "unanswerable"}\n')
    assert [q.line for q in load_questions(path)] == [1, 3]
    path.write_text('{"question": "A?", "answer": "a"}\n{"question": "B?"}\n')
    with pytest.raises(QuestionFileError, match="line 2"):
        load_questions(path)
    path.write_text("\n")
    with pytest.raises(QuestionFileError, match="no questions"):
        load_questions(path)


def test_matching_ignores_case_punctuation_and_articles() -> None:
    assert matches("It was built by Marta Quill.", ["Marta Quill"])
    assert matches("Quill", ["Marta Quill"])  # token F1 2/3
    assert matches("the year 1887", ["in 1887"])
    assert not matches("Tomas Brenn", ["Marta Quill"])
    assert not matches("18870", ["1887"])  # whole words only


def test_outcomes() -> None:
    answerable = EvalQuestion(1, "Who?", ("Marta Quill",))
    unanswerable = EvalQuestion(2, "When did it close?", ())
    assert judge(answerable, "Marta Quill built it.", abstained=False) == "correct"
    assert judge(answerable, "Tomas Brenn.", abstained=False) == "wrong"
    assert judge(answerable, "I cannot tell.", abstained=True) == "abstained"
    assert judge(unanswerable, "The documents don't say.", abstained=True) == "correct"
    assert judge(unanswerable, "In 1950.", abstained=False) == "wrong"
    tally = Tally()
    for q, outcome in ((answerable, "correct"), (answerable, "abstained"), (unanswerable, "wrong")):
        tally.add(q, outcome)  # type: ignore[arg-type]
    assert tally.lines() == [
        "3 questions: correct 1, abstained 1, confidently wrong 1",
        "  answerable 2: correct 1, abstained 1, wrong 0",
        "  unanswerable 1: abstained (correct) 0, answered (wrong) 1",
    ]


def test_rag_eval_against_a_running_server(tmp_path: Path, encoder: Any, loaded_model: Any) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {"question": "Who built the Zorblat lighthouse?", "answer": "Marta Quill"},
        {"question": "How far away can its lamp be seen?", "answer": "22 nautical miles"},
        {"question": "What is the capital of Mongolia?", "answer": "unanswerable"},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tmp_path / "report.jsonl"
    settings = Settings(_env_file=None, index_dir=tmp_path / "data", index_save_interval_s=0.0)  # type: ignore[call-arg]
    with running_server(settings, encoder, loaded_model) as url:
        import httpx

        with httpx.Client(base_url=url) as client:
            assert upload(client, ("zorblat.txt", DOCUMENT.encode())).status_code == 200  # type: ignore[arg-type]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
        result = subprocess.run(
            [sys.executable, "-m", "app", "eval", str(questions), "--url", url, "--report", str(report)],
            cwd=tmp_path,  # needs nothing from the repository but the installed package
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("3 questions: correct "), result.stdout
    assert "abstained" in lines[0] and "confidently wrong" in lines[0]
    assert lines[-1] == f"report: {report}"
    assert "asking" in result.stderr  # the progress bar
    written = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["question"] for r in written] == [r["question"] for r in rows]
    assert all(r["outcome"] in {"correct", "abstained", "wrong"} and "answer" in r for r in written)
    counts = {o: sum(r["outcome"] == o for r in written) for o in ("correct", "abstained", "wrong")}
    assert lines[0] == (
        f"3 questions: correct {counts['correct']}, abstained {counts['abstained']}, "
        f"confidently wrong {counts['wrong']}"
    )
    assert written[2]["expected"] == "unanswerable"
