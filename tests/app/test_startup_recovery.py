"""Start-up with damaged index files: the service comes up ready, quarantines what it cannot read, and
answers exactly as before (the SQLite store is the source of truth; indexes are rebuilt from it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import MakeClient, upload

DOCS = {
    "volcano.txt": b"Mount Etna is an active volcano on the east coast of Sicily. It erupts several times a year.",
    "tides.txt": b"Tides are caused by the gravitational pull of the moon and, to a lesser degree, the sun.",
    "bread.txt": b"Sourdough bread rises with wild yeast and lactic acid bacteria instead of baker's yeast.",
    "chess.txt": b"In chess, castling moves the king two squares towards a rook, which jumps over the king.",
    "comets.txt": b"Comets are icy bodies whose tails always point away from the sun because of solar wind.",
}
QUERIES = ["volcano in Sicily", "what causes tides", "wild yeast bread", "castling the king", "comet tails"]


def snapshot(client: TestClient) -> tuple[dict[str, int], dict[tuple[str, str], list[tuple[str, int]]]]:
    """The listing ({id: chunks}) and the ranked (document, chunk) pairs of every query in every mode."""
    r = client.get("/documents", params={"limit": 500})
    assert r.status_code == 200, r.text
    listing = {d["id"]: d["chunks"] for d in r.json()["documents"]}
    results: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for q in QUERIES:
        for mode in ("dense", "bm25", "hybrid"):
            r = client.post("/search", json={"query": q, "retrieval_mode": mode, "top_k": 5})
            assert r.status_code == 200, r.text
            results[(q, mode)] = [(h["document_id"], h["chunk_id"]) for h in r.json()["results"]]
    return listing, results


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage, not a faiss index\xff" * 64)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _bad_json(path: Path) -> None:
    path.write_text("{ this is not json")


def _other_model(path: Path) -> None:
    manifest = json.loads(path.read_text())
    manifest["embedding_model"] = "some-other-encoder"
    path.write_text(json.dumps(manifest))


Corruption = Callable[[Path], None]

CASES: list[tuple[str, str, Corruption, bool]] = [
    # (id, which file, what to do to it, whether it must end up in quarantine/)
    ("truncated-index", ".faiss", _truncate, True),
    ("garbage-index", ".faiss", _garbage, True),
    ("empty-index", ".faiss", _empty, True),
    ("garbage-manifest", ".json", _bad_json, True),
    ("other-model-manifest", ".json", _other_model, False),
]


@pytest.mark.parametrize(("suffix", "corrupt", "quarantined"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_damaged_index_is_rebuilt_and_quarantined(
    make_client: MakeClient, tmp_path: Path, suffix: str, corrupt: Corruption, quarantined: bool
) -> None:
    data = tmp_path / "data"
    with make_client() as client:
        for name, body in DOCS.items():
            assert upload(client, (name, body)).status_code == 200
        before = snapshot(client)
    assert len(before[0]) == len(DOCS)

    files = sorted((data / "vectors").glob(f"*{suffix}"))
    assert len(files) == 1, files
    target = files[0]
    original = target.read_bytes()
    corrupt(target)
    damaged = target.read_bytes() if target.exists() else b""
    assert damaged != original

    with make_client() as client:
        ready: Any = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["ready"] is True
        assert ready.json()["models"]["error"] is None
        after = snapshot(client)
    assert after == before

    moved = sorted((data / "quarantine").glob(f"{target.name}.*")) if (data / "quarantine").exists() else []
    if quarantined:
        assert len(moved) == 1, "the damaged file must be kept in quarantine/, not deleted"
        assert moved[0].read_bytes() == damaged
    else:
        assert moved == []
    # The rebuilt snapshot was written on shutdown and is trusted on the next start.
    manifest = json.loads(target.with_suffix(".json").read_text())
    assert manifest["embedding_model"] != "some-other-encoder"
    with make_client() as client:
        assert snapshot(client) == before
    assert not (data / "quarantine").exists() or len(list((data / "quarantine").iterdir())) == len(moved)


def test_missing_index_files_are_rebuilt(make_client: MakeClient, tmp_path: Path) -> None:
    with make_client() as client:
        for name, body in DOCS.items():
            assert upload(client, (name, body)).status_code == 200
        before = snapshot(client)
    for f in (tmp_path / "data" / "vectors").iterdir():
        f.unlink()
    with make_client() as client:
        assert client.get("/readyz").status_code == 200
        assert snapshot(client) == before
