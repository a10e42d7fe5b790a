"""API keys: from ``RAG_API_KEYS`` and from the store, where only their hashes are kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.settings import Settings
from retrieval.postgres.database import Database


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    tenant: str
    created_at: float
    revoked: bool


class KeyStorage(Protocol):
    """Where managed keys live: ``KeyStore`` (SQLite) or ``PostgresKeyStore``."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def create(self, tenant: str) -> tuple[KeyRecord, str]: ...

    def list(self, tenant: str | None = None) -> list[KeyRecord]: ...

    def revoke(self, key_id: str, tenant: str | None = None) -> bool: ...

    def active_hashes(self) -> dict[str, str]: ...


def new_key(tenant: str) -> tuple[KeyRecord, str]:
    """A fresh key for ``tenant`` and its record; the plaintext is shown once and never stored."""
    key = "rag_" + secrets.token_urlsafe(32)
    return KeyRecord(key_id=secrets.token_hex(6), tenant=tenant, created_at=time.time(), revoked=False), key


class KeyStore:
    """Keys managed by ``python -m app keys``; the plaintext is shown once at creation and never stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS api_keys ("
            " key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,"
            " created_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)"
        )
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    def create(self, tenant: str) -> tuple[KeyRecord, str]:
        """Create a key for ``tenant``; returns the record and the plaintext key (shown once)."""
        record, key = new_key(tenant)
        with self._lock:
            self.conn.execute(
                "INSERT INTO api_keys (key_id, key_hash, tenant, created_at) VALUES (?, ?, ?, ?)",
                (record.key_id, hash_key(key), tenant, record.created_at),
            )
        return record, key

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        sql = "SELECT key_id, tenant, created_at, revoked FROM api_keys"
        args: tuple[str, ...] = ()
        if tenant is not None:
            sql += " WHERE tenant = ?"
            args = (tenant,)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY created_at", args).fetchall()
        return [KeyRecord(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def revoke(self, key_id: str, tenant: str | None = None) -> bool:
        sql = "UPDATE api_keys SET revoked = 1 WHERE key_id = ?"
        args: tuple[str, ...] = (key_id,)
        if tenant is not None:
            sql += " AND tenant = ?"
            args = (key_id, tenant)
        with self._lock:
            cur = self.conn.execute(sql, args)
        return cur.rowcount > 0

    def active_hashes(self) -> dict[str, str]:
        """{key_hash: tenant} of every key that is not revoked."""
        with self._lock:
            rows = self.conn.execute("SELECT key_hash, tenant FROM api_keys WHERE revoked = 0").fetchall()
        return {r[0]: r[1] for r in rows}


class PostgresKeyStore:
    """The same keys in PostgreSQL (table ``api_keys``), shared by every replica. The pool belongs to ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def open(self) -> None:
        """Nothing to do: the database is opened (and migrated) once, at start-up."""

    def close(self) -> None:
        """Nothing to do: the database's owner closes it."""

    def create(self, tenant: str) -> tuple[KeyRecord, str]:
        record, key = new_key(tenant)
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, key_hash, tenant, created_at) VALUES (%s, %s, %s, %s)",
                (record.key_id, hash_key(key), tenant, record.created_at),
            )
        return record, key

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT key_id, tenant, created_at, revoked FROM api_keys"
                " WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s ORDER BY created_at",
                {"tenant": tenant},
            ).fetchall()
        return [KeyRecord(r[0], r[1], float(r[2]), bool(r[3])) for r in rows]

    def revoke(self, key_id: str, tenant: str | None = None) -> bool:
        with self.db.connection() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked = true WHERE key_id = %(key_id)s"
                " AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)",
                {"key_id": key_id, "tenant": tenant},
            )
            return cur.rowcount > 0

    def active_hashes(self) -> dict[str, str]:
        with self.db.connection() as conn:
            rows = conn.execute("SELECT key_hash, tenant FROM api_keys WHERE NOT revoked").fetchall()
        return {r[0]: r[1] for r in rows}


class Authenticator:
    """Maps a bearer key to its tenant, comparing hashes in constant time."""

    def __init__(self, configured: dict[str, str], store: KeyStorage | None, refresh_s: float = 5.0) -> None:
        self._configured = {hash_key(k): t for k, t in configured.items()}
        self._store = store
        self._refresh_s = refresh_s
        self._stored: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _known(self) -> dict[str, str]:
        now = time.monotonic()
        if self._store is not None and now - self._loaded_at > self._refresh_s:
            with self._lock:
                self._stored = self._store.active_hashes()
                self._loaded_at = now
        return {**self._stored, **self._configured}

    @property
    def enabled(self) -> bool:
        """False when no key exists anywhere: the service then runs open for local use."""
        return bool(self._known())

    def tenant_for(self, key: str) -> str | None:
        digest = hash_key(key)
        found: str | None = None
        # Compare against every known hash without stopping early, so timing leaks nothing.
        for known_hash, tenant in self._known().items():
            if hmac.compare_digest(digest, known_hash):
                found = tenant
        return found


def open_key_store(settings: Settings) -> KeyStorage:
    """The key store the settings name, opened (for the ``keys`` commands); ``close()`` it after use."""
    if settings.database_url:
        db = Database(settings.database_url, max_size=1)
        db.open(wait_s=settings.database_start_timeout_s)
        return _OwningPostgresKeyStore(db)
    store = KeyStore(settings.store_path)
    store.open()
    return store


class _OwningPostgresKeyStore(PostgresKeyStore):
    """A key store that owns its database: closing it closes the pool."""

    def close(self) -> None:
        self.db.close()
