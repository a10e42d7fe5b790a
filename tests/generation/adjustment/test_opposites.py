from __future__ import annotations

import pytest

from generation.adjustment.opposites import opposites


@pytest.mark.parametrize(
    ("word", "opposite"),
    [("least", "most"), ("Most", "least"), ("lost", "won"), ("southern", "northern"), ("harder", "easier")],
)
def test_listed_opposites_hold_both_ways(word: str, opposite: str) -> None:
    assert opposite in opposites(word)
    assert word.lower() in opposites(opposite)


@pytest.mark.parametrize(
    ("word", "opposite"),
    [("unsolved", "solved"), ("solved", "unsolved"), ("non-binary", "binary"), ("impossible", "possible")],
)
def test_negative_prefixes_give_opposites_both_ways(word: str, opposite: str) -> None:
    assert opposite in opposites(word)


def test_short_stems_and_unrelated_words_give_nothing_false() -> None:
    assert "it" not in opposites("unit")  # "un" + a stem under four letters is no negation
    assert "most" not in opposites("leader")
