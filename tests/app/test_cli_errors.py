"""The `rag` command meets common mistakes with one line, a hint and a non-zero exit; never a traceback.

Each case runs the real command in a subprocess, as a user would, against a real server where one is needed.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.app.conftest import running_server

REPO = Path(__file__).resolve().parents[2]
KEY = "cli-test-key"


def rag(*args: str, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_API_KEYS": "", "COLUMNS": "200"}
    env.pop("RAG_API_KEY", None)
    env.pop("RAG_URL", None)
    if data is not None:
        env["RAG_INDEX_DIR"] = str(data)
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode != 0, result
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert output.startswith("error: ") and "(hint: " in output, output
    for text in expected:
        assert text in output, output
    return output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, encoder: Any, loaded_model: Any) -> Iterator[str]:
    data = tmp_path_factory.mktemp("data")
    settings = Settings(_env_file=None, index_dir=data, index_save_interval_s=0.0, api_keys=f"{KEY}:cli")  # type: ignore[call-arg]
    with running_server(settings, encoder, loaded_model) as url:
        yield url


def test_no_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert_one_line(rag("ask", "Who built it?", "--url", url), f"cannot reach {url}", "rag serve")
    (tmp_path / "a.txt").write_text("Some text.")
    assert_one_line(rag("ingest", str(tmp_path / "a.txt"), "--url", url), "cannot reach")


def test_verbose_shows_the_traceback() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    for args in (("--verbose", "ask", "Who?", "--url", url), ("ask", "Who?", "--url", url, "--verbose")):
        result = rag(*args)
        assert result.returncode != 0
        assert "Traceback" in result.stderr and "ConnectError" in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: cannot reach")


def test_data_folder_in_use(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "a.txt").write_text("Some text.")
    with (data / "writer.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running server holds it
        result = rag("ingest", str(tmp_path / "a.txt"), data=data)
    assert_one_line(result, "another process", str(data), "rag ingest --url")


def test_authentication_failures(server: str, tmp_path: Path) -> None:
    assert_one_line(rag("ask", "Who?", "--url", server), "401", "missing API key", "--api-key")
    assert_one_line(rag("ask", "Who?", "--url", server, "--api-key", "wrong"), "invalid API key", "RAG_API_KEY")
    (tmp_path / "a.txt").write_text("Some text.")
    assert_one_line(rag("ingest", str(tmp_path / "a.txt"), "--url", server), "401")
    (tmp_path / "q.jsonl").write_text('{"question": "Who?", "answer": "unanswerable"}\n')
    assert_one_line(
        rag("eval", str(tmp_path / "q.jsonl"), "--url", server, "--report", str(tmp_path / "r.jsonl")), "401"
    )


def test_http_errors(server: str) -> None:
    assert_one_line(rag("ask", "Who?", "--url", server, "--api-key", KEY, "--detail", "huge"), "422", "detail")
    assert_one_line(rag("ask", "Who?", "--url", server + "/nowhere", "--api-key", KEY), "404")


def test_bad_question_file(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Who?", "answer": "Quill"}\n{"question": "When?"}\n')
    assert_one_line(rag("eval", str(questions)), "line 2", '"answer"')


def test_missing_paths(tmp_path: Path) -> None:
    assert_one_line(rag("ingest", str(tmp_path / "nowhere")), "nowhere does not exist")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG")
    assert_one_line(rag("ingest", str(tmp_path)), "no supported files", ".pdf")
