"""PostgreSQL over HTTP: keys in the database, outages answered 503, replicas that refuse a newer schema."""

from __future__ import annotations

import time

import psycopg
import pytest

from app.keys import open_key_store
from app.settings import Settings
from retrieval.postgres.database import SchemaVersionError, migrations
from tests.app.conftest import MakeClient, assert_error, upload
from tests.postgres_server import PostgresServer


@pytest.fixture
def backend() -> str:
    return "postgres"


def test_an_outage_answers_503_with_retry_after_and_recovers(
    make_client: MakeClient, postgres_server: PostgresServer
) -> None:
    with make_client() as client:
        assert upload(client, ("moon.txt", b"The Moon orbits the Earth every 27 days.")).status_code == 200
        assert client.get("/readyz").status_code == 200
        postgres_server.stop()
        try:
            for resp in (
                client.post("/search", json={"query": "moon orbit"}),
                upload(client, ("sun.txt", b"The Sun is a star.")),
                client.get("/documents"),
            ):
                assert_error(resp, 503, "storage_unavailable")
                assert int(resp.headers["retry-after"]) >= 1
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["ready"] is False
        finally:
            postgres_server.start()
        # The pool reconnects in the background, with back-off: the replica turns ready again by itself.
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the replica did not recover after the database came back"
            time.sleep(0.5)
        hits = client.post("/search", json={"query": "moon orbit"}).json()["results"]
        assert [h["source"] for h in hits] == ["moon.txt"]
        assert client.get("/documents").json()["total"] == 1


def test_keys_live_in_the_database(make_client: MakeClient, postgres_url: str) -> None:
    with make_client() as client:  # migrates the database
        store = open_key_store(Settings(_env_file=None, database_url=postgres_url))  # type: ignore[call-arg]
        record, key = store.create("acme")
        store.create("other")  # with no active key left at all, the service would run open
        try:
            assert_error(client.get("/documents"), 401)
            ok = client.get("/documents", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200, ok.text
            assert store.revoke(record.key_id)
            # No cache: a key revoked through one process is refused by every replica at once.
            assert_error(client.get("/documents", headers={"Authorization": f"Bearer {key}"}), 401)
        finally:
            store.close()


def test_a_replica_refuses_to_start_on_a_newer_schema(make_client: MakeClient, postgres_url: str) -> None:
    with make_client():
        pass
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'later.sql')", (len(migrations()) + 1,))
    with pytest.raises(SchemaVersionError, match="newer release"), make_client():
        pass
