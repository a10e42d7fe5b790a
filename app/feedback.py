"""Answer feedback in SQLite, and the per-collection default detail level learned from it.

A service-level store, like ``app.keys``: ``AskService`` records each answer and reads the learned
default, ``POST /feedback`` adds the ratings.

Learning rule: each feedback with ``preferred_detail`` is one vote for that level; a thumbs-down
(rating -1) on an answer given at some level, with no preferred level named, counts half a vote
against that level. Once a collection has at least ``min_votes`` preferred-level votes, the level
with the highest score becomes its default, if that score is positive and strictly ahead of the
next one (a tie keeps the configured default). Requests that set ``detail`` themselves ignore it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import FeedbackNotFoundError, NotReadyError

DETAIL_LEVELS = ("short", "normal", "detailed")


def check_rating(rating: int, preferred_detail: str | None) -> None:
    """What every feedback store accepts: a rating of 1 or -1, and a known detail level if one is named."""
    if rating not in (-1, 1):
        raise ValueError("rating must be 1 or -1")
    if preferred_detail is not None and preferred_detail not in DETAIL_LEVELS:
        raise ValueError(f"preferred_detail must be one of {DETAIL_LEVELS}")


NEGATIVE_WEIGHT = 0.5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    collection TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    detail TEXT NOT NULL,
    tone TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_collection ON answers (tenant, collection);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers (answer_id),
    tenant TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT,
    preferred_detail TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_answer ON feedback (answer_id);
"""


@dataclass(frozen=True)
class CollectionDefaults:
    detail: str | None  # None: no learned default, use the configured one
    votes: dict[str, int] = field(default_factory=dict)  # preferred_detail votes per level


@dataclass(frozen=True)
class FeedbackOutcome:
    defaults_changed: bool
    defaults: CollectionDefaults


class FeedbackStore:
    """Own connection to a SQLite file (which may be the document store's; the tables differ)."""

    def __init__(self, path: str | Path, *, min_votes: int = 3) -> None:
        if min_votes < 1:
            raise ValueError("min_votes must be at least 1")
        self.path = Path(path)
        self.min_votes = min_votes
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the tables if needed. Idempotent."""
        with self._lock:
            if self._conn is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            self._conn = conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise NotReadyError("the feedback store is not open")
        return self._conn

    def record_answer(
        self, answer_id: str, tenant: str, collection: str, question: str, answer: str, detail: str, tone: str
    ) -> None:
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, tenant, collection, question, answer, detail, tone, time.time()),
            )

    def add_feedback(
        self,
        tenant: str,
        answer_id: str,
        rating: int,
        comment: str | None = None,
        preferred_detail: str | None = None,
    ) -> FeedbackOutcome:
        """Store one rating; raises ``FeedbackNotFoundError`` for an answer id this tenant does not own."""
        check_rating(rating, preferred_detail)
        with self._lock:
            db = self._db()
            row = db.execute(
                "SELECT collection FROM answers WHERE answer_id = ? AND tenant = ?", (answer_id, tenant)
            ).fetchone()
            if row is None:
                raise FeedbackNotFoundError(f"no answer with id {answer_id!r}")
            collection = str(row[0])
            db.execute("BEGIN IMMEDIATE")
            try:
                before = self._defaults(db, tenant, collection)
                db.execute(
                    "INSERT INTO feedback (answer_id, tenant, rating, comment, preferred_detail, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (answer_id, tenant, rating, comment, preferred_detail, time.time()),
                )
                after = self._defaults(db, tenant, collection)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return FeedbackOutcome(defaults_changed=after.detail != before.detail, defaults=after)

    def collection_defaults(self, tenant: str, collection: str) -> CollectionDefaults:
        with self._lock:
            return self._defaults(self._db(), tenant, collection)

    def _defaults(self, db: sqlite3.Connection, tenant: str, collection: str) -> CollectionDefaults:
        votes: dict[str, int] = {}
        for level, n in db.execute(
            "SELECT f.preferred_detail, COUNT(*) FROM feedback f JOIN answers a ON a.answer_id = f.answer_id "
            "WHERE a.tenant = ? AND a.collection = ? AND f.preferred_detail IS NOT NULL "
            "GROUP BY f.preferred_detail",
            (tenant, collection),
        ):
            votes[str(level)] = int(n)
        against: dict[str, int] = {}
        for level, n in db.execute(
            "SELECT a.detail, COUNT(*) FROM feedback f JOIN answers a ON a.answer_id = f.answer_id "
            "WHERE a.tenant = ? AND a.collection = ? AND f.rating = -1 AND f.preferred_detail IS NULL "
            "GROUP BY a.detail",
            (tenant, collection),
        ):
            against[str(level)] = int(n)
        return CollectionDefaults(learned_detail(votes, against, self.min_votes), votes)


def learned_detail(votes: dict[str, int], against: dict[str, int], min_votes: int) -> str | None:
    """The learning rule (pure): see the module docstring."""
    if sum(votes.values()) < min_votes:
        return None
    scores = sorted(
        ((votes.get(level, 0) - NEGATIVE_WEIGHT * against.get(level, 0), level) for level in DETAIL_LEVELS),
        reverse=True,
    )
    (top, level), (second, _) = scores[0], scores[1]
    return level if top > 0 and top > second else None
