"""The trained model on fixed passages (the real committed artifact)."""

import numpy as np
import pytest
import torch

from grounding import GroundingReader
from grounding.reader import _precision, native_cpu_bf16

LIGHTHOUSE = "The Zorblat lighthouse on Kelvin Island was built in 1887 by the engineer Marta Quill."
HANDBOOK = (
    "Version 3, effective 1 January 2024. HR helpline: +44 20 7946 0000.\n"
    "4.1 Parental leave. Primary caregivers get 16 weeks of paid parental leave; secondary caregivers get 4 weeks. "
    "4.2 Requests go to HR at least 8 weeks before the leave starts."
)
BAKING = "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough over many hours."


def answer(reader: GroundingReader, question: str, passages: list[str]) -> str:
    result = reader.read(question, passages)
    assert result.best is not None
    return passages[result.best.passage][result.best.start : result.best.end]


def test_finds_the_span(grounding_reader: GroundingReader) -> None:
    result = grounding_reader.read("Who built the Zorblat lighthouse?", [LIGHTHOUSE])
    assert answer(grounding_reader, "Who built the Zorblat lighthouse?", [LIGHTHOUSE]) == "Marta Quill"
    assert result.answerable >= grounding_reader.calibration.threshold


def test_says_no_answer_for_a_passage_on_another_subject(grounding_reader: GroundingReader) -> None:
    result = grounding_reader.read("Who built the Zorblat lighthouse?", [BAKING])
    assert result.answerable < grounding_reader.calibration.threshold


def test_reranks_the_passage_that_holds_the_answer_first(grounding_reader: GroundingReader) -> None:
    passages = [BAKING, "Kelvin Island has a population of 312 and a ferry twice a week.", LIGHTHOUSE]
    scores = grounding_reader.rerank_scores("Who built the Zorblat lighthouse?", passages)
    assert int(scores.argmax()) == 2


def test_handbook_answer_is_the_weeks_not_a_stray_digit(grounding_reader: GroundingReader) -> None:
    question = "How many weeks of parental leave do primary caregivers get?"
    result = grounding_reader.read(question, [HANDBOOK])
    if result.answerable >= grounding_reader.calibration.threshold:
        assert "16 weeks" in answer(grounding_reader, question, [HANDBOOK])
    else:  # abstaining is allowed; a stray number never is
        assert result.best is None or answer(grounding_reader, question, [HANDBOOK]) not in {"3", "44", "20", "1"}


def test_verify_scores_the_right_claim_above_an_invented_one(grounding_reader: GroundingReader) -> None:
    right, invented = grounding_reader.verify(
        "Who built the Zorblat lighthouse?", ["Marta Quill", "Tom Quill"], [LIGHTHOUSE]
    )
    assert right > 0.5
    assert right > invented


def test_spans_stay_on_one_line_without_edge_punctuation(grounding_reader: GroundingReader) -> None:
    result = grounding_reader.read("What is the HR helpline number?", [HANDBOOK])
    best = result.best
    assert best is not None
    text = HANDBOOK[best.start : best.end]
    assert "\n" not in text
    assert text == text.strip(" .,;:")


def test_precision_auto_is_half_on_a_gpu_and_a_named_one_is_kept() -> None:
    assert _precision("auto", "cuda") == torch.float16
    assert _precision("auto", "cpu") == (torch.bfloat16 if native_cpu_bf16() else torch.float32)
    assert _precision("float32", "cpu") == torch.float32
    with pytest.raises(ValueError, match="unknown precision"):
        _precision("int4", "cpu")


def test_bf16_on_the_cpu_scores_as_float32_does(grounding_reader: GroundingReader) -> None:
    """The bf16 fast path (autocast over fp32 weights) keeps the ranking and the answer of full precision."""
    passages = [BAKING, HANDBOOK, LIGHTHOUSE]
    net, tokenizer = grounding_reader._ready()
    full, fast = GroundingReader.from_net(net, tokenizer), GroundingReader.from_net(net, tokenizer)
    full.dtype, fast.dtype = torch.float32, torch.bfloat16
    a = full.rerank_scores("Who built the Zorblat lighthouse?", passages)
    b = fast.rerank_scores("Who built the Zorblat lighthouse?", passages)
    assert list(np.argsort(-a)) == list(np.argsort(-b))
    assert np.abs(a - b).max() < 0.25
    assert answer(fast, "Who built the Zorblat lighthouse?", [LIGHTHOUSE]) == "Marta Quill"
