"""The PostgreSQL connection pool, the versioned migrations, and what an outage looks like to callers.

``Database.open`` waits for the server, applies the SQL files in ``migrations/`` in order under
``pg_advisory_lock`` (so replicas starting together never race), records each in
``schema_migrations``, binds the embedding column to the model's dimension, and opens one pool.
A database whose schema is newer than this build knows is refused with ``SchemaVersionError``.

Connection failures anywhere (server down, restarting, pool exhausted) surface as
``StorageUnavailableError``, which the HTTP layer answers with 503 and Retry-After. Connections are
checked when borrowed, so the pool recovers by itself once the server is back, within seconds whatever
the outage's length (see ``RECONNECT_TIMEOUT_S``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from retrieval.errors import StorageUnavailableError

logger = logging.getLogger(__name__)

# Any constant shared by every replica; the advisory lock serialises their migrations.
MIGRATION_LOCK = 7_201_019
_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# How long one of the pool's reconnection attempts keeps trying. psycopg_pool doubles the wait between
# tries (1, 2, 4, ... s) for 5 minutes by default, so a replica went on refusing requests long after
# PostgreSQL was back, the longer the outage the longer (docs/evaluation.md, "PostgreSQL back end"). A
# short attempt gives up, and the next request that finds no connection starts a fresh one at once.
RECONNECT_TIMEOUT_S = 5.0


class SchemaVersionError(RuntimeError):
    """The database was migrated by a newer build, or holds embeddings of another model."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The SQL files shipped in ``retrieval/postgres/migrations``, in version order."""
    found = []
    for entry in resources.files("retrieval.postgres").joinpath("migrations").iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must run 1..n without gaps: {[m.name for m in found]}")
    return found


@contextmanager
def unavailable_on_connection_errors() -> Iterator[None]:
    """Turn "cannot reach the database" into ``StorageUnavailableError``; other errors pass through."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        raise StorageUnavailableError(f"the database is unavailable: {type(exc).__name__}") from exc


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)
    conn.commit()


class Database:
    """One pool per process, built at start-up and borrowed per unit of work (``connection()``)."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        pool_timeout_s: float = 3.0,
        connect_timeout_s: float = 5.0,
        reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.pool_timeout_s = pool_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self._pool: ConnectionPool | None = None

    # --- start-up --------------------------------------------------------------------------------

    def open(self, *, wait_s: float = 60.0) -> None:
        """Wait up to ``wait_s`` for the server, migrate, then open the pool. Idempotent."""
        if self._pool is not None:
            return
        self.migrate(wait_s=wait_s)
        pool = ConnectionPool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            timeout=self.pool_timeout_s,
            reconnect_timeout=self.reconnect_timeout_s,
            kwargs={"connect_timeout": max(1, round(self.connect_timeout_s))},
            configure=_configure,
            check=ConnectionPool.check_connection,
            open=False,
            name="rag",
        )
        pool.open(wait=False)
        self._pool = pool

    def _connect(self, wait_s: float) -> psycopg.Connection:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout_s)))
            except psycopg.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise StorageUnavailableError(f"the database did not answer within {wait_s:g} s: {exc}") from exc
                logger.warning("waiting for the database: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
                time.sleep(1.0)

    def migrate(self, *, wait_s: float = 60.0) -> int:
        """Apply the migrations this database lacks; returns its schema version afterwards."""
        known = migrations()
        with self._connect(wait_s) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
                current = int(row[0]) if row else 0
                newest = known[-1].version if known else 0
                if current > newest:
                    raise SchemaVersionError(
                        f"the database schema is at version {current}, but this build knows versions up to "
                        f"{newest}: a newer release migrated it. Run that release (or newer) here; this "
                        "replica will not start against it."
                    )
                for m in known:
                    if m.version <= current:
                        continue
                    with conn.transaction():
                        conn.execute(m.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name)
                        )
                    logger.info("applied database migration %s", m.name)
                    current = m.version
                return current
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    def bind_embeddings(self, model_name: str, dimension: int) -> None:
        """Give the embedding column its dimension and HNSW index on first start; refuse another model later."""
        with self._connect(0) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                rows: dict[str, str] = dict(
                    conn.execute(
                        "SELECT key, value FROM meta WHERE key IN ('embedding_model', 'embedding_dimension')"
                    ).fetchall()
                )
                if not rows:
                    with conn.transaction():
                        # The dimension is a number we produced (encoder.dimension), never user input.
                        conn.execute(
                            f"ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({int(dimension)})".encode()
                        )
                        conn.execute(
                            "CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw ON chunks "
                            "USING hnsw (embedding vector_ip_ops)"
                        )
                        conn.execute(
                            "INSERT INTO meta (key, value) VALUES ('embedding_model', %s), ('embedding_dimension', %s)",
                            (model_name, str(dimension)),
                        )
                    logger.info("database bound to embeddings of %s (%d-d)", model_name, dimension)
                elif rows.get("embedding_model") != model_name or rows.get("embedding_dimension") != str(dimension):
                    raise SchemaVersionError(
                        f"the database holds embeddings of {rows.get('embedding_model')} "
                        f"({rows.get('embedding_dimension')}-d), not of {model_name} ({dimension}-d): set "
                        "RAG_EMBEDDING_MODEL back, or ingest into a new database with `python -m app ingest`"
                    )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # --- use -------------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction that commits when the block exits cleanly."""
        if self._pool is None:
            raise StorageUnavailableError("the database pool is not open")
        with unavailable_on_connection_errors(), self._pool.connection() as conn:
            yield conn

    def ping(self) -> None:
        with self.connection() as conn:
            conn.execute("SELECT 1")
