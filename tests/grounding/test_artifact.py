import shutil
from pathlib import Path

import pytest
import torch

from grounding import DEFAULT_ARTIFACT_DIR, ArtifactError, GroundingReader
from grounding.artifact import load_net, read_manifest
from grounding.train import Config, build_net, load_initial_weights


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


def test_training_can_start_from_the_packaged_artifact() -> None:
    """``grounding.train --init-from``: the adapter and heads loaded into a fresh LoRA net give the packaged outputs."""
    net, tokenizer = build_net(Config())
    load_initial_weights(net, DEFAULT_ARTIFACT_DIR)
    packaged = load_net(DEFAULT_ARTIFACT_DIR)
    enc = tokenizer("Who built it?", "Marta Quill built the lighthouse in 1887.", return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    with torch.inference_mode():
        for ours, theirs in zip(net.eval()(*args), packaged(*args), strict=True):
            assert torch.allclose(ours, theirs, atol=1e-3)
    fresh, _ = build_net(Config())
    with torch.inference_mode():
        assert not torch.allclose(fresh.eval()(*args)[2], packaged(*args)[2], atol=1e-3)  # zero LoRA: not the same
