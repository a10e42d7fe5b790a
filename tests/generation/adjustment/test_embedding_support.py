"""The citation check with the real all-MiniLM-L6-v2 encoder: paraphrases are supported by meaning."""

from __future__ import annotations

from typing import Any

from generation.adjustment.citations import CitationStep
from generation.adjustment.pipeline import AdjustmentConfig, AdjustmentPipeline, build_default_pipeline
from tests.generation.adjustment.helpers import DOC, abstention, context

PARAPHRASE = "The conqueror William triumphed and was crowned English monarch."


def test_paraphrase_is_supported_only_with_embeddings(encoder: Any) -> None:
    step = AdjustmentPipeline([CitationStep(threshold=0.5)])
    lexical = step.run(context("Who won?", PARAPHRASE))
    semantic = step.run(context("Who won?", PARAPHRASE, embed=encoder.encode))
    assert semantic.support > lexical.support
    assert semantic.sentences[0].supported
    [cite] = semantic.citations
    assert cite.number == 2 and DOC[cite.start : cite.end] == cite.text
    assert "William the Conqueror won the battle" in cite.text


def test_unrelated_sentence_stays_unsupported_with_embeddings(encoder: Any) -> None:
    out = build_default_pipeline(AdjustmentConfig()).run(
        context(
            "What is photosynthesis?", "Photosynthesis turns sunlight into sugar in plant leaves.", embed=encoder.encode
        )
    )
    assert out.abstained and abstention(out).reason == "low_support"
