from __future__ import annotations

import pytest

from generation.adjustment.correct import CorrectStep, cut_unfinished, normalize_markers, remove_repetition
from generation.adjustment.pipeline import AdjustmentPipeline
from tests.generation.adjustment.helpers import context


def correct(question: str, answer: str) -> tuple[str, list[str]]:
    out = AdjustmentPipeline([CorrectStep()]).run(context(question, answer))
    return out.answer, out.adjustments


@pytest.mark.parametrize(
    "raw",
    [
        "<|im_start|>assistant\nRollo was their leader.<|im_end|>",
        "Rollo was their leader.<|im_end|>\n<|im_start|>user\nAnd who else?",
        "<s>[INST] Rollo was their leader. [/INST]</s>",
        "Assistant: Rollo was their leader.",
        "Rollo was their leader.<|endoftext|>Question: what",
    ],
)
def test_template_tokens_and_role_prefixes_are_removed(raw: str) -> None:
    assert correct("Who led them?", raw)[0] == "Rollo was their leader."


def test_echoed_question_and_scaffolding_are_removed() -> None:
    assert correct("Who led the Normans?", "Who led the Normans? Rollo led them.")[0] == "Rollo led them."
    text, labels = correct("Who led them?", "Passage [1]: The Normans were...\nQuestion: Who led them?\nAnswer: Rollo")
    assert text == "Rollo" and "correct:removed_echo" in labels


def test_an_echoed_passage_header_is_removed() -> None:
    # The prompt heads each passage "[n] (source: ...)"; a small model sometimes copies that line.
    text, labels = correct("Who led them?", "[1] (source: normans.txt, page 1)\nRollo was their leader.")
    assert text == "Rollo was their leader." and "correct:removed_echo" in labels


def test_repeated_sentences_and_loops_are_removed() -> None:
    assert remove_repetition("Rollo led them. Rollo led them. They came from Norway.") == (
        "Rollo led them. They came from Norway."
    )
    assert remove_repetition("It was very very very very good.") == "It was very good."
    text, labels = correct("q", "The king of the north, the king of the north, the king of the north, won.")
    assert text == "The king of the north, won." and "correct:removed_repetition" in labels


def test_unfinished_trailing_sentence_is_cut_but_phrases_are_kept() -> None:
    assert cut_unfinished("Rollo led them. He was born in") == "Rollo led them."
    assert cut_unfinished("Paris") == "Paris"
    assert cut_unfinished("1066") == "1066"
    assert cut_unfinished("Steps:\n- mix\n- bake") == "Steps:\n- mix\n- bake"
    assert correct("When?", "1066")[0] == "1066"


def test_an_unfinished_sentence_that_an_introduction_announces_is_kept() -> None:
    # Cutting it would leave only "The answer to this question is:".
    raw = "The answer to this question is:\n\nDTIME(n) is defined as the number of steps taken by a machine to"
    assert cut_unfinished(raw) == raw
    assert correct("What is DTIME(n)?", raw)[0] == raw


def test_citation_markers_are_normalised_and_invalid_ones_dropped() -> None:
    assert (
        normalize_markers("A [1, 2]. B [1][2]. C (Passage 1). D (2).", {1, 2}) == "A [1] [2]. B [1] [2]. C [1]. D [2]."
    )
    # "(7)" is not a passage: left alone rather than guessed at.
    assert normalize_markers("He had (7).", {1, 2}) == "He had (7)."
    text, labels = correct("q", "Rollo led them [1] [9].")
    assert text == "Rollo led them [1]." and "correct:dropped_invalid_citations" in labels


def test_whitespace_is_tidied_and_clean_text_is_untouched() -> None:
    assert correct("q", "  Rollo   led them .  ")[0] == "Rollo led them."
    assert correct("q", "Rollo led them [1].") == ("Rollo led them [1].", ["correct"])
