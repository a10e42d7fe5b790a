from __future__ import annotations

import pytest

from generation.adjustment.pipeline import AdjustmentPipeline
from generation.adjustment.style import FRIENDLY_LEAD_IN, StyleStep, expand_contractions, to_phrase
from tests.generation.adjustment.helpers import context


def style(answer: str, detail: str = "normal", tone: str = "neutral") -> str:
    return AdjustmentPipeline([StyleStep()]).run(context("q", answer, detail=detail, tone=tone)).answer


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("The answer is Denver Broncos.", "Denver Broncos"),
        ("According to passage [1], 1066. The battle was long.", "1066"),
        ("Sure! Rollo [1].", "Rollo"),
        ("Paris", "Paris"),
    ],
)
def test_short_reduces_to_the_phrase(raw: str, phrase: str) -> None:
    assert to_phrase(raw) == phrase
    assert style(raw, detail="short") == phrase


def test_normal_and_detailed_keep_the_text_and_markers() -> None:
    text = "Rollo led them [1]. They came from Norway [2]."
    assert style(text, "normal") == text
    assert style(text, "detailed") == text
    assert style("According to the passages, Rollo led them [1].") == "Rollo led them [1]."


def test_formal_tone() -> None:
    assert (
        expand_contractions("It's what they can't do; they'd won't.")
        == "It is what they cannot do; they would will not."
    )
    assert style("Hey there! It's Rollo, he didn't lose 😀!", tone="formal") == "It is Rollo, he did not lose."


def test_friendly_adds_a_lead_in_but_keeps_facts() -> None:
    assert style("Rollo led them [1].", tone="friendly") == FRIENDLY_LEAD_IN + "Rollo led them [1]."
    assert style("Rollo", detail="short", tone="friendly") == "Rollo"


def test_neutral_strips_friendly_openers_and_exclamations() -> None:
    assert style("Hi! Rollo led them!") == "Rollo led them."
