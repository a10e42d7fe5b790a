"""Importing ``app.main`` builds the app and nothing else: no folder, no file, no model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import app.main
services = app.main.app.state.services
assert not services.encoder.loaded, "the encoder was loaded at import"
assert services.generator is None and not services.ready
assert not services.retrieval.ready
print("imported")
"""


def test_importing_app_main_creates_nothing_and_loads_nothing(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    data_dir = tmp_path / "missing" / "data"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "RAG_INDEX_DIR": str(data_dir),
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip() == "imported"
    assert not (tmp_path / "missing").exists()
    assert list(cwd.iterdir()) == []
