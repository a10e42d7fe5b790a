"""`python -m app ingest FOLDER` as a user runs it: a real subprocess against a data folder, then served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.conftest import BACKENDS, MakeClient

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, data: Path, database_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_INDEX_DIR": str(data), "HF_HUB_OFFLINE": "1", "RAG_API_KEYS": ""}
    if database_url:
        env["RAG_DATABASE_URL"] = database_url  # the same command writes to PostgreSQL instead
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_ingest_a_folder_then_serve_it(
    tmp_path: Path, make_client: MakeClient, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    folder = tmp_path / "docs"
    (folder / "nested").mkdir(parents=True)
    (folder / "harbour.md").write_text("# Harbour\n\nThe harbour master rings the bell at noon.\n")
    (folder / "nested" / "orchard.html").write_text(
        "<html><body><nav>menu</nav><p>The orchard has forty apple trees.</p><script>x()</script></body></html>"
    )
    (folder / "empty.txt").write_text("")  # no text: reported, and the rest still goes in
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n")  # not a supported type: skipped

    data = tmp_path / "data"
    first = _cli("ingest", str(folder), "--collection", "notes", data=data, database_url=database_url)
    assert first.returncode == 0, first.stdout + first.stderr
    report = first.stdout + first.stderr  # the progress bar and the report go to stderr
    assert "stored 2, deduplicated 0, failed 1" in report, report
    assert "empty.txt" in report

    again = _cli("ingest", str(folder), "--collection", "notes", data=data, database_url=database_url)
    assert "stored 0, deduplicated 2, failed 1" in again.stdout + again.stderr, again.stderr

    with make_client() as client:
        docs = client.get("/documents", params={"collection": "notes"}).json()["documents"]
        assert sorted(d["source"] for d in docs) == ["harbour.md", "orchard.html"]
        hit = client.post("/search", json={"query": "how many apple trees", "collection": "notes"}).json()
        assert hit["results"][0]["source"] == "orchard.html"
        assert "menu" not in hit["results"][0]["text"] and "x()" not in hit["results"][0]["text"]
