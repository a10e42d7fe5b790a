import shutil
from pathlib import Path

import pytest

from grounding import DEFAULT_ARTIFACT_DIR, ArtifactError, GroundingReader
from grounding.artifact import read_manifest


def test_committed_artifact_is_small_and_matches_its_manifest() -> None:
    manifest = read_manifest(DEFAULT_ARTIFACT_DIR)
    total = sum((DEFAULT_ARTIFACT_DIR / name).stat().st_size for name in manifest["files"])
    assert total <= 5 * 1024 * 1024
    assert 0.0 < manifest["calibration"]["threshold"] < 1.0


def test_a_corrupted_file_is_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(DEFAULT_ARTIFACT_DIR, copy)
    adapter = copy / "adapter_model.safetensors"
    data = bytearray(adapter.read_bytes())
    data[len(data) // 2] ^= 0xFF
    adapter.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        GroundingReader(copy).load()


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "artifact"
    shutil.copytree(DEFAULT_ARTIFACT_DIR, copy)
    (copy / "heads.safetensors").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        GroundingReader(copy).load()
    with pytest.raises(ArtifactError, match="not found"):
        GroundingReader(tmp_path / "nowhere").load()
