from __future__ import annotations

import pytest

from generation.adjustment.pipeline import AdjustmentConfig, AdjustmentPipeline, build_default_pipeline
from generation.adjustment.shorten import ShortenStep, answer_phrase
from tests.generation.adjustment.helpers import abstention, context


@pytest.mark.parametrize(
    ("question", "answer", "phrase"),
    [
        # The question restated before a copula.
        (
            "What is Norman art's most well known piece?",
            "The most well-known piece of Norman art is the Bayeux Tapestry.",
            "Bayeux Tapestry",
        ),
        (
            "What was the Anglo-Norman language's final form?",
            "The Anglo-Norman language's final form is Modern English.",
            "Modern English",
        ),
        # Restated twice ("that is being used ... is"), and a trailing clause.
        (
            "What is the moniker used for the region's technology?",
            'The moniker that is being used for the region\'s technology is "The Tech Coast".',
            "Tech Coast",
        ),
        ("Who was the Norse leader?", "The Norse leader was Rollo, who was the ruler of a Viking kingdom.", "Rollo"),
        # Number and date questions keep the number or date.
        (
            "In what year did the Normans invade at Bannow Bay?",
            "The Norman invasion at Bannow Bay occurred in 1169.",
            "1169",
        ),
        ("How many counties does the region have?", "The answer is: 10\n\nThe region actually has 10 counties.", "10"),
        ("When did the storm hit Richard's fleet?", "The storm hit Richard's fleet on 1 May 1191 [2].", "1 May 1191"),
        # A list introduced by a colon gives its first item.
        (
            "What are two resources used to gauge complexity?",
            "The two resources used to gauge complexity are:\n\n1. **Time and space**: these are",
            "Time and space",
        ),
        # A phrase the model put in quotes, unless the quotes only repeat the question.
        (
            "What kind of arches does Norman architecture have?",
            'The passage mentions that Norman architecture has "rounded arches" which are shaped like an arch.',
            "Rounded arches",
        ),
        (
            "What is the Norman architecture idiom?",
            'The "Norman architecture" idiom is Romanesque.',
            "Romanesque",
        ),
        (
            "In what year did Sullivan publish a study of sets?",
            'Sullivan published it in 1961 in a paper titled "Sets and Origins".',
            "1961",
        ),
        # Already a phrase, or the model's own words: left alone.
        ("Who led the Normans?", "Rollo [1].", "Rollo"),
        ("Where did they settle?", "Normandy", "Normandy"),
    ],
)
def test_the_answer_phrase_is_cut_out_of_a_restated_question(question: str, answer: str, phrase: str) -> None:
    assert answer_phrase(answer, question) == phrase


def test_only_short_answers_are_shortened_and_the_long_answer_is_kept() -> None:
    question, raw = "Who was the Norse leader?", "The Norse leader was Rollo, who swore fealty."
    step = AdjustmentPipeline([ShortenStep()])
    short = step.run(context(question, raw, detail="short"))
    assert short.answer == "Rollo" and "shorten:answer_phrase" in short.adjustments
    assert short.long_answer == raw
    normal = step.run(context(question, raw, detail="normal"))
    assert normal.answer == raw and normal.adjustments == ["shorten"]


def test_a_decline_is_not_shortened_into_an_answer() -> None:
    raw = "The passage is a list of names, but it does not contain the answer to the question."
    out = AdjustmentPipeline([ShortenStep()]).run(context("How many campuses are there?", raw, detail="short"))
    assert out.answer == raw and out.adjustments == ["shorten"]


def test_support_is_judged_on_the_phrase_not_on_the_restated_question() -> None:
    # The restated question is all in the passages; the phrase the model made up is not.
    pipe = build_default_pipeline(AdjustmentConfig())
    made_up = pipe.run(
        context("Who was the leader of the Normans?", "The leader of the Normans was Harald Hardrada.", detail="short")
    )
    assert made_up.abstained and abstention(made_up).reason == "low_support"
    found = pipe.run(
        context("Who was the leader of the Normans?", "The leader of the Normans was Rollo.", detail="short")
    )
    assert not found.abstained and found.answer == "Rollo" and found.citations
