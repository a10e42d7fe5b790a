from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import FeedbackNotFoundError
from app.feedback import FeedbackStore, learned_detail


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    s = FeedbackStore(tmp_path / "store.sqlite3", min_votes=2)
    s.open()
    yield s
    s.close()


def answer(
    store: FeedbackStore, answer_id: str, tenant: str = "t1", collection: str = "c", detail: str = "normal"
) -> None:
    store.record_answer(answer_id, tenant, collection, "Who led them?", "Rollo", detail, "neutral")


def test_roundtrip_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    s = FeedbackStore(path, min_votes=1)
    s.open()
    answer(s, "a1")
    outcome = s.add_feedback("t1", "a1", 1, comment="good", preferred_detail="short")
    assert outcome.defaults_changed and outcome.defaults.detail == "short"
    s.close()
    again = FeedbackStore(path, min_votes=1)
    again.open()
    assert again.collection_defaults("t1", "c").detail == "short"
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT rating, comment FROM feedback").fetchall() == [(1, "good")]


def test_defaults_shift_after_enough_votes(store: FeedbackStore) -> None:
    for i in range(4):
        answer(store, f"a{i}")
    assert store.collection_defaults("t1", "c").detail is None
    first = store.add_feedback("t1", "a0", 1, preferred_detail="detailed")
    assert not first.defaults_changed and first.defaults.detail is None
    second = store.add_feedback("t1", "a1", 1, preferred_detail="detailed")
    assert second.defaults_changed and second.defaults.detail == "detailed"
    assert second.defaults.votes == {"detailed": 2}
    # A tie takes the learned default away again; a third vote brings it back.
    store.add_feedback("t1", "a2", 1, preferred_detail="short")
    tie = store.add_feedback("t1", "a3", -1, preferred_detail="short")
    assert tie.defaults_changed and tie.defaults.detail is None
    assert store.collection_defaults("t2", "c").detail is None  # other tenants see nothing


def test_negative_ratings_count_mildly_against_a_level(store: FeedbackStore) -> None:
    assert learned_detail({"short": 2, "normal": 1}, {}, 2) == "short"
    assert learned_detail({"short": 2, "normal": 1}, {"short": 2}, 2) is None  # 2 - 1 == 1: a tie
    assert learned_detail({"short": 1}, {}, 2) is None  # too few votes
    for i in range(3):
        answer(store, f"s{i}", detail="short")
    store.add_feedback("t1", "s0", 1, preferred_detail="short")
    assert store.add_feedback("t1", "s1", 1, preferred_detail="short").defaults.detail == "short"
    store.add_feedback("t1", "s2", -1)
    assert store.collection_defaults("t1", "c").detail == "short"  # 2 - 0.5 still leads


def test_unknown_or_foreign_answer_ids_are_rejected(store: FeedbackStore) -> None:
    answer(store, "mine", tenant="t1")
    with pytest.raises(FeedbackNotFoundError) as exc:
        store.add_feedback("t1", "nope", 1)
    assert exc.value.code == "answer_not_found"
    with pytest.raises(FeedbackNotFoundError):
        store.add_feedback("t2", "mine", 1)


def test_collections_are_separate(store: FeedbackStore) -> None:
    answer(store, "x1", collection="x")
    answer(store, "x2", collection="x")
    store.add_feedback("t1", "x1", 1, preferred_detail="short")
    store.add_feedback("t1", "x2", 1, preferred_detail="short")
    assert store.collection_defaults("t1", "x").detail == "short"
    assert store.collection_defaults("t1", "c").detail is None


def test_bad_values_are_rejected(store: FeedbackStore) -> None:
    answer(store, "a")
    with pytest.raises(ValueError):
        store.add_feedback("t1", "a", 5)
    with pytest.raises(ValueError):
        store.add_feedback("t1", "a", 1, preferred_detail="verbose")
