"""The real service in a child process, as `make serve` runs it, on a free loopback port.

For the tests and benchmarks that need the whole process (start-up, SIGKILL, a second instance as a
remote generator, a browser): ``running_server()`` for the common case, ``ServerProcess`` to kill and
restart. Like ``starlette.testclient``, it ships with the package so both can use one copy.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds the ``app`` package: the child's working directory."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One ``uvicorn app.main:app`` process on ``data_dir``; we own its pid and stop or kill only it.

    ``env`` is laid over this process's environment, after ``HF_HUB_OFFLINE=1`` and ``RAG_INDEX_DIR``.
    The server's output goes to ``log_path`` (appended, so restarts on one folder share a log).
    """

    def __init__(self, data_dir: Path, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAG_INDEX_DIR": str(data_dir),
            **(env or {}),
        }
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [*command, "--log-level", "warning"], cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.started = time.monotonic()

    def is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float) -> tuple[bool, str]:
        """Polls ``/readyz`` until it answers 200; (False, why) when the process exits, fails to load or
        is not ready in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False, f"server exited with {self.proc.returncode}"
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=2)
                if r.status_code == 200:
                    return True, ""
                error = r.json().get("models", {}).get("error")
                if error:
                    return False, f"load failure: {error}"
            except (httpx.HTTPError, ValueError, AttributeError):
                pass
            time.sleep(0.1)
        return False, f"not ready in {timeout:g} s"

    def ready_or_raise(self, timeout: float) -> None:
        ok, why = self.wait_ready(timeout)
        if not ok:
            self.stop()
            raise RuntimeError(f"{why}; server log:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log.close()


@contextmanager
def running_server(
    env: Mapping[str, str] | None = None, data_dir: Path | None = None, ready_timeout: float = 600
) -> Iterator[str]:
    """Yields the base URL of a ready server; its data folder is a temporary one unless given."""
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(data_dir or Path(tmp) / "data", Path(tmp) / "server.log", env)
        try:
            server.ready_or_raise(ready_timeout)
            yield server.url
        finally:
            server.stop()
