"""Answer feedback and the per-collection defaults learned from it, in PostgreSQL.

The same tables, learning rule and interface as the SQLite ``FeedbackStore``; every replica reads the
same votes, so a default learned through one replica applies on all of them at once.
"""

from __future__ import annotations

import time

import psycopg

from app.errors import FeedbackNotFoundError
from app.feedback import CollectionDefaults, FeedbackOutcome, check_rating, learned_detail
from retrieval.postgres.database import Database


class PostgresFeedbackStore:
    """``FeedbackStore`` over the shared database; the pool belongs to ``db``."""

    def __init__(self, db: Database, *, min_votes: int = 3) -> None:
        if min_votes < 1:
            raise ValueError("min_votes must be at least 1")
        self.db = db
        self.min_votes = min_votes

    def open(self) -> None:
        """Nothing to do: the database is opened (and migrated) once, at start-up."""

    def close(self) -> None:
        """Nothing to do: the database's owner closes it."""

    def record_answer(
        self, answer_id: str, tenant: str, collection: str, question: str, answer: str, detail: str, tone: str
    ) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO answers (answer_id, tenant, collection, question, answer, detail, tone, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (answer_id) DO UPDATE SET"
                " tenant = excluded.tenant, collection = excluded.collection, question = excluded.question,"
                " answer = excluded.answer, detail = excluded.detail, tone = excluded.tone,"
                " created_at = excluded.created_at",
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
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT collection FROM answers WHERE answer_id = %s AND tenant = %s", (answer_id, tenant)
            ).fetchone()
            if row is None:
                raise FeedbackNotFoundError(f"no answer with id {answer_id!r}")
            collection = str(row[0])
            before = self._defaults(conn, tenant, collection)
            conn.execute(
                "INSERT INTO feedback (answer_id, tenant, rating, comment, preferred_detail, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (answer_id, tenant, rating, comment, preferred_detail, time.time()),
            )
            after = self._defaults(conn, tenant, collection)
        return FeedbackOutcome(defaults_changed=after.detail != before.detail, defaults=after)

    def collection_defaults(self, tenant: str, collection: str) -> CollectionDefaults:
        with self.db.connection() as conn:
            return self._defaults(conn, tenant, collection)

    def _defaults(self, conn: psycopg.Connection, tenant: str, collection: str) -> CollectionDefaults:
        votes = {
            str(level): int(n)
            for level, n in conn.execute(
                "SELECT f.preferred_detail, count(*) FROM feedback f JOIN answers a ON a.answer_id = f.answer_id"
                " WHERE a.tenant = %s AND a.collection = %s AND f.preferred_detail IS NOT NULL"
                " GROUP BY f.preferred_detail",
                (tenant, collection),
            )
        }
        against = {
            str(level): int(n)
            for level, n in conn.execute(
                "SELECT a.detail, count(*) FROM feedback f JOIN answers a ON a.answer_id = f.answer_id"
                " WHERE a.tenant = %s AND a.collection = %s AND f.rating = -1 AND f.preferred_detail IS NULL"
                " GROUP BY a.detail",
                (tenant, collection),
            )
        }
        return CollectionDefaults(learned_detail(votes, against, self.min_votes), votes)
