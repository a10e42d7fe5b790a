"""The reader step and reader-based abstention, with the real grounding model on fixed text."""

from __future__ import annotations

import pytest

from generation.adjustment.pipeline import AdjustmentConfig, build_default_pipeline
from generation.adjustment.reader import agrees
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext
from grounding import GroundingReader
from tests.generation.adjustment.helpers import abstention, hit, passages

PIPE = build_default_pipeline(AdjustmentConfig())
VERIFYING = build_default_pipeline(AdjustmentConfig(verify_threshold=0.5))
LIGHTHOUSE = "The Zorblat lighthouse on Kelvin Island was built in 1887 by the engineer Marta Quill."
HANDBOOK = (
    "Version 3, effective 1 January 2024. HR helpline: +44 20 7946 0000.\n"
    "4.1 Parental leave. Primary caregivers get 16 weeks of paid parental leave; secondary caregivers get 4 weeks.\n"
    "4.2 Requests go to HR at least 8 weeks before the leave starts."
)


def run(
    reader: GroundingReader, question: str, answer: str, texts: list[str], detail: str, pipe: object = PIPE
) -> AdjustedAnswer:
    hits = [hit(i + 1, f"doc-{i}", f"doc{i}.txt", None, 0, len(t), t) for i, t in enumerate(texts)]
    ctx = AdjustmentContext(
        question=question,
        raw_answer=answer,
        passages=hits,
        detail=detail,
        reading=reader.read(question, texts),
        reader_threshold=reader.calibration.threshold,
        verify=reader.verify,
    )
    return pipe.run(ctx)  # type: ignore[attr-defined,no-any-return]


def test_agrees_needs_the_span_words_in_order() -> None:
    assert agrees("It was built by the engineer Marta Quill.", "Marta Quill")
    assert not agrees("Quill, Marta", "Marta Quill")
    assert not agrees("anything", "")


def test_wrong_short_answer_becomes_the_span_with_an_exact_citation(grounding_reader: GroundingReader) -> None:
    out = run(grounding_reader, "Who built the Zorblat lighthouse?", "a British engineer", [LIGHTHOUSE], "short")
    assert out.answer == "Marta Quill"
    assert "correct:reader_span" in out.adjustments
    assert not out.abstained
    (cite,) = out.citations
    assert LIGHTHOUSE[cite.start : cite.end] == cite.text == "Marta Quill"


def test_a_right_short_answer_is_kept(grounding_reader: GroundingReader) -> None:
    out = run(grounding_reader, "Who built the Zorblat lighthouse?", "Marta Quill", [LIGHTHOUSE], "short")
    assert out.answer == "Marta Quill"
    assert "correct:reader_span" not in out.adjustments


def test_handbook_answer_is_the_weeks_or_an_abstention(grounding_reader: GroundingReader) -> None:
    out = run(grounding_reader, "How many weeks of parental leave do primary caregivers get?", "1", [HANDBOOK], "short")
    assert out.abstained or "16 weeks" in out.answer
    assert out.answer not in {"1", "3", "20", "44", "4"}


def test_off_topic_passage_abstains_on_the_reader(grounding_reader: GroundingReader) -> None:
    baking = "Sourdough rises because wild yeast and lactic acid bacteria ferment the dough over many hours."
    out = run(grounding_reader, "Who built the Zorblat lighthouse?", "Marta Quill", [baking], "short")
    assert out.abstained
    assert abstention(out).reason in {"reader_no_answer", "missing_key_terms"}


def test_normal_answer_with_an_invented_sentence_is_flagged(grounding_reader: GroundingReader) -> None:
    answer = (
        "The Zorblat lighthouse was built by Marta Quill [1]. "
        "She was a British engineer who designed it with her brother Tom in London [1]."
    )
    out = run(grounding_reader, "Who built the Zorblat lighthouse?", answer, [LIGHTHOUSE], "normal")
    assert not out.abstained
    first, second = out.sentences
    assert first.supported
    assert not second.supported
    assert any(a.endswith("_unverified") or a.endswith("_unsupported") for a in out.adjustments)


@pytest.mark.parametrize("detail", ["short", "normal"])
def test_without_a_reading_the_step_changes_nothing(detail: str) -> None:
    ctx = AdjustmentContext(
        question="Who led them?", raw_answer="Rollo was their leader [1].", passages=passages(), detail=detail
    )
    out = PIPE.run(ctx)
    assert "correct:reader_span" not in out.adjustments
    assert out.reader_check is None


def test_model_verification_keeps_a_supported_sentence(grounding_reader: GroundingReader) -> None:
    answer = "The Zorblat lighthouse was built by Marta Quill [1]."
    out = run(grounding_reader, "Who built the Zorblat lighthouse?", answer, [LIGHTHOUSE], "normal", VERIFYING)
    (sentence,) = out.sentences
    assert sentence.supported
    assert out.reader_check is not None and out.reader_check.unverified_sentences == 0
