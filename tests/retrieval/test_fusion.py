"""Reciprocal rank fusion is a pure function: checked by hand-computed scores."""

from __future__ import annotations

import pytest

from retrieval.fusion import reciprocal_rank_fusion


def test_scores_are_sums_of_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)


def test_best_first_and_items_in_both_lists_win() -> None:
    fused = reciprocal_rank_fusion([[10, 20, 30], [30, 40, 10]], k=1)
    assert [i for i, _ in fused][:2] == [10, 30]
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)


def test_weights_scale_each_ranking() -> None:
    fused = reciprocal_rank_fusion([[1], [2]], k=0, weights=[1.0, 3.0])
    assert fused == [(2, 3.0), (1, 1.0)]


def test_duplicates_within_a_ranking_count_once_at_their_best_rank() -> None:
    fused = dict(reciprocal_rank_fusion([[5, 5, 6], [6, 5]], k=10))
    assert fused[5] == pytest.approx(1 / 11 + 1 / 12)
    assert fused[6] == pytest.approx(1 / 13 + 1 / 11)


def test_ties_keep_first_seen_order() -> None:
    fused = reciprocal_rank_fusion([[7, 8], [8, 7]], k=10)
    assert [i for i, _ in fused] == [7, 8]
    assert fused[0][1] == pytest.approx(fused[1][1])


def test_empty_inputs() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


def test_mismatched_weights_are_rejected() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1], [2]], weights=[1.0])
