"""A fine-tuned cross-encoder that grounds answers in passages.

One small model (a 6-layer BERT, all-MiniLM-L6-v2 with a LoRA adapter) reads ``[CLS] question [SEP] passage [SEP]``
and gives

- start/end span logits, with "no answer" at ``[CLS]`` as in SQuAD 2.0 (``reader.GroundingReader.read``);
- a support logit: does this passage answer the question, or, with a claim appended to the question, does it
  support that claim (``GroundingReader.support``, used for reranking and sentence verification).

This package imports neither ``retrieval`` nor ``generation``; the service composes it.
"""

from grounding.artifact import DEFAULT_ARTIFACT_DIR, ArtifactError
from grounding.postprocess import Span
from grounding.reader import GroundingReader, PairScores, ReadResult, verify_from, verify_pairs

__all__ = [
    "DEFAULT_ARTIFACT_DIR",
    "ArtifactError",
    "GroundingReader",
    "PairScores",
    "ReadResult",
    "Span",
    "verify_from",
    "verify_pairs",
]
