"""Runtime inference: rerank passages, read the answer span, verify claims, with a calibrated no-answer score."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grounding.artifact import DEFAULT_ARTIFACT_DIR, ArtifactError, load_net, read_manifest
from grounding.features import Window, claim_text, encode_pairs
from grounding.modeling import GroundingNet, pad_batch
from grounding.postprocess import Span, merge_spans, window_spans


@dataclass(frozen=True)
class Calibration:
    """Logistic calibration of P(the passages answer the question) from the pooled span margin and support.

    Fitted on the validation articles by the training script and stored in the artifact's manifest.
    """

    margin_weight: float = 1.0
    support_weight: float = 0.0
    bias: float = 0.0
    threshold: float = 0.5

    def probability(self, margin: float, support: float) -> float:
        z = self.margin_weight * margin + self.support_weight * support + self.bias
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass
class PairScores:
    """The model's outputs for one (question, passage) pair: one entry per window of the passage."""

    windows: list[Window]
    starts: list[np.ndarray]  # (T,) start logits per window
    ends: list[np.ndarray]  # (T,) end logits per window
    support: list[float]  # support logit per window

    @property
    def best_support(self) -> float:
        return max(self.support) if self.support else float("-inf")


@dataclass(frozen=True)
class ReadResult:
    """What the reader found for one question over a list of passages."""

    spans: list[Span]  # best first, over all passages
    support: list[float]  # per passage: support logit (max over its windows)
    answerable: float  # calibrated P(some passage answers the question)
    calibration: Calibration = field(repr=False, default_factory=Calibration)

    @property
    def best(self) -> Span | None:
        return self.spans[0] if self.spans else None

    @property
    def margin(self) -> float:
        """The pooled span margin: the best span's score over its window's null score (-inf with no span)."""
        return self.spans[0].margin if self.spans else float("-inf")


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _precision(precision: str, device: str) -> torch.dtype:
    """``auto``: fp16 on a GPU, bf16 on a CPU that has it in hardware, else fp32."""
    if precision == "auto":
        if device.startswith("cuda"):
            return torch.float16
        return torch.bfloat16 if native_cpu_bf16() else torch.float32
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if precision not in dtypes:
        raise ValueError(f"unknown precision {precision!r}: use auto, float32, bfloat16 or float16")
    return dtypes[precision]


class GroundingReader:
    """The trained grounding model behind a small, thread-safe API. Call ``load()`` before use."""

    def __init__(
        self,
        artifact_dir: Path | str = DEFAULT_ARTIFACT_DIR,
        *,
        base_path: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
    ) -> None:
        self.artifact_dir = Path(artifact_dir)
        self.base_path = base_path
        self.device = _device(device)
        self.dtype = _precision(precision, self.device)
        self.batch_size = batch_size
        self.calibration = Calibration()
        self.manifest: dict[str, Any] = {}
        self._net: GroundingNet | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_net(cls, net: GroundingNet, tokenizer: Any, calibration: Calibration | None = None) -> GroundingReader:
        """Wraps a network in memory (the training script evaluates through this)."""
        reader = cls(device="cpu")
        reader._net, reader._tokenizer = net, tokenizer
        reader.device = str(next(net.parameters()).device)
        reader.dtype = next(net.parameters()).dtype
        reader.calibration = calibration or Calibration()
        return reader

    @property
    def loaded(self) -> bool:
        return self._net is not None

    def load(self) -> None:
        """Loads the base weights and the artifact; raises ``ArtifactError`` on a missing or corrupted file."""
        from transformers import AutoTokenizer

        from grounding.artifact import default_base_path

        self.manifest = read_manifest(self.artifact_dir)
        base = self.base_path or default_base_path()
        net = load_net(self.artifact_dir, base)
        if self.device.startswith("cuda") and self.dtype != torch.float32:
            net = net.to(self.dtype)  # on a GPU the weights themselves are half precision
        self._net = net.to(self.device)
        self._tokenizer = AutoTokenizer.from_pretrained(base)
        cal = self.manifest.get("calibration") or {}
        try:
            self.calibration = Calibration(**cal)
        except TypeError as exc:
            raise ArtifactError(f"grounding artifact calibration is malformed: {exc}") from exc

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        """On a CPU the weights stay fp32 and the matrix products run in bf16 (as in training)."""
        if self.device == "cpu" and self.dtype == torch.bfloat16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                yield
        else:
            yield

    def _ready(self) -> tuple[GroundingNet, Any]:
        if self._net is None:
            raise RuntimeError("GroundingReader.load() has not been called")
        return self._net, self._tokenizer

    @torch.inference_mode()
    def score_pairs(self, firsts: Sequence[str], passages: Sequence[str]) -> list[PairScores]:
        """Raw model outputs for each (question or claim, passage) pair, in one length-sorted pass.

        This is the unit a caller batches across concurrent requests; ``read_from`` and ``support_of`` turn
        the outputs into answers and scores.
        """
        net, tok = self._ready()
        windows = encode_pairs(tok, firsts, passages)
        outputs: list[tuple[np.ndarray, np.ndarray, float]] = [(np.empty(0), np.empty(0), 0.0)] * len(windows)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        with self._lock:
            for lo in range(0, len(order), self.batch_size):
                idx = order[lo : lo + self.batch_size]
                ids, mask, types = pad_batch(
                    [windows[i].input_ids for i in idx], [windows[i].token_type_ids for i in idx], tok.pad_token_id
                )
                with self._autocast():
                    s, e, sup = net(ids.to(self.device), mask.to(self.device), types.to(self.device))
                s_np, e_np, sup_np = s.float().cpu().numpy(), e.float().cpu().numpy(), sup.float().cpu().numpy()
                for row, i in enumerate(idx):
                    n = len(windows[i].input_ids)
                    outputs[i] = (s_np[row, :n], e_np[row, :n], float(sup_np[row]))
        pairs = [PairScores([], [], [], []) for _ in firsts]
        for w, (s_logits, e_logits, support) in zip(windows, outputs, strict=True):
            pair = pairs[w.pair]
            pair.windows.append(w)
            pair.starts.append(s_logits)
            pair.ends.append(e_logits)
            pair.support.append(support)
        return pairs

    def support(self, firsts: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """Support logit for each (question or claim, passage) pair: the best over the passage's windows."""
        return np.array([p.best_support for p in self.score_pairs(firsts, passages)], dtype=np.float32)

    def rerank_scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """Support logits of the question against each passage (higher: more likely to hold the answer)."""
        return self.support([question] * len(passages), passages)

    def verify(self, question: str, claims: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """For each claim, the probability that some passage supports it as the answer to ``question``."""
        firsts, texts = verify_pairs(question, claims, passages)
        return verify_from(self.score_pairs(firsts, texts), len(claims), len(passages))

    def read_from(self, scores: Sequence[PairScores], passages: Sequence[str] | None = None) -> ReadResult:
        """Answer spans over the passages of ``scores`` (question, passage i), pooled and calibrated.

        With the passage texts, a span stays within one line and one table cell, and loses surrounding
        punctuation.
        """
        if not scores:
            return ReadResult([], [], 0.0, self.calibration)
        spans: list[Span] = []
        for number, pair in enumerate(scores):
            for w, s, e in zip(pair.windows, pair.starts, pair.ends, strict=True):
                text = None if passages is None else passages[number]
                found = window_spans(s, e, w.offsets, passage=number, text=text)[0]
                spans.extend(found if text is None else [trim_span(sp, text) for sp in found])
        merged = merge_spans([sp for sp in spans if sp.end > sp.start])
        per_passage = [p.best_support for p in scores]
        margin = merged[0].margin if merged else -30.0
        prob = self.calibration.probability(margin, max(per_passage))
        return ReadResult(merged, per_passage, prob, self.calibration)

    def read(self, question: str, passages: Sequence[str]) -> ReadResult:
        """Answer spans over all passages, each passage's support, and the calibrated answerability."""
        return self.read_from(self.score_pairs([question] * len(passages), passages), passages)


_EDGE = " \t\r\n.,;:!?\"'()[]"


def trim_span(span: Span, passage: str) -> Span:
    """The span cut at its first line break and stripped of surrounding spaces and punctuation."""
    text = passage[span.start : span.end]
    first_line = text.lstrip().split("\n", 1)[0]
    start = span.start + (len(text) - len(text.lstrip()))
    inner = first_line.strip(_EDGE)
    if not inner:
        return dataclasses.replace(span, end=span.start)
    start += first_line.index(inner)
    # Keep a closing bracket or quote that the span opened itself: "(16 weeks)" stays whole inside.
    return dataclasses.replace(span, start=start, end=start + len(inner))


def verify_pairs(question: str, claims: Sequence[str], passages: Sequence[str]) -> tuple[list[str], list[str]]:
    """The (claim, passage) pairs ``verify`` scores: every claim against every passage."""
    firsts = [claim_text(question, c) for c in claims for _ in passages]
    return firsts, [p for _ in claims for p in passages]


def verify_from(scores: Sequence[PairScores], n_claims: int, n_passages: int) -> np.ndarray:
    """Per claim, the sigmoid of its best support logit over the passages."""
    if not n_claims or not n_passages:
        return np.zeros(n_claims, dtype=np.float32)
    logits = np.array([p.best_support for p in scores], dtype=np.float32).reshape(n_claims, n_passages)
    return np.asarray(1.0 / (1.0 + np.exp(-logits.max(axis=1))), dtype=np.float32)
