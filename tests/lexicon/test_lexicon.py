from __future__ import annotations

from generation.adjustment.sentences import content_words, stems
from lexicon import STOPWORDS, stem, stem_words
from retrieval.bm25_index import tokenize


def test_inflections_meet_in_one_stem() -> None:
    assert stem("founded") == stem("founding") == stem("founds") == "found"
    assert stem_words(["museums", "policies", "leave"]) == [stem("museums"), stem("policies"), stem("leave")]


def test_bm25_and_the_adjustment_stage_read_a_question_the_same_way() -> None:
    question = "Who founded the Lighthouse Museums, according to the documents?"
    assert tokenize([question]) == [["found", "lighthous", "museum"]]
    assert stems(content_words(question)) == {"found", "lighthous", "museum"}


def test_stopwords_are_lower_case_words() -> None:
    assert {"what", "who", "the", "according"} <= STOPWORDS
    assert all(w == w.lower() and " " not in w for w in STOPWORDS)
