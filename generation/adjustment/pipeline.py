"""The adjustment stage: named steps run in a fixed order, each one switchable per request.

Default order (``build_default_pipeline``): ``correct`` -> ``content_rules`` -> ``shorten`` ->
``citations`` -> ``reader`` -> ``abstain`` -> ``style``. ``shorten`` (detail=short only) runs before the citation
check so that support and abstention judge the answer phrase the user gets. Content rules run once,
before the citation check, so the per-sentence texts and citations reported are already masked; no
later step adds content (style only removes lead-ins or adds a fixed friendly opener, abstention
substitutes a configured sentence), so a second run at the end would find nothing new.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from generation.adjustment.abstain import AbstainStep
from generation.adjustment.citations import CitationStep
from generation.adjustment.config import AdjustmentConfig
from generation.adjustment.content_rules import ContentRulesStep
from generation.adjustment.correct import CorrectStep
from generation.adjustment.reader import ReaderStep
from generation.adjustment.shorten import ShortenStep
from generation.adjustment.style import StyleStep
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext

__all__ = ["AdjustmentConfig", "AdjustmentPipeline", "AdjustmentStep", "build_default_pipeline"]

DEFAULT_ORDER = ("correct", "content_rules", "shorten", "citations", "reader", "abstain", "style")


class AdjustmentStep(Protocol):
    name: str

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        """Return the next state; never mutate ``state`` or ``ctx``."""
        ...


class AdjustmentPipeline:
    def __init__(self, steps: Sequence[AdjustmentStep]) -> None:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate adjustment step names: {names}")
        self._steps = list(steps)

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self._steps]

    def run(self, ctx: AdjustmentContext, enabled: Collection[str] | None = None) -> AdjustedAnswer:
        """Run the steps in order; ``enabled`` (names) limits which run, ``None`` runs all.

        ``adjustments`` lists each step that ran, by name, followed by its ``name:change`` entries.
        """
        if enabled is not None:
            unknown = set(enabled) - set(self.step_names)
            if unknown:
                raise ValueError(f"unknown adjustment steps: {sorted(unknown)}; known: {self.step_names}")
        state = AdjustedAnswer(
            answer=ctx.raw_answer.strip(),
            abstained=False,
            citations=[],
            sentences=[],
            support=0.0,
            adjustments=[],
        )
        for step in self._steps:
            if enabled is not None and step.name not in enabled:
                continue
            state.adjustments = [*state.adjustments, step.name]
            state = step.apply(state, ctx)
        return state


def build_default_pipeline(config: AdjustmentConfig) -> AdjustmentPipeline:
    """The seven steps in the default order; a bad regex in ``config`` raises ValueError here."""
    return AdjustmentPipeline(
        [
            CorrectStep(),
            ContentRulesStep(config.blocked_terms, config.blocked_patterns, config.redact_pii),
            ShortenStep(),
            CitationStep(config.unsupported, config.support_threshold),
            ReaderStep(config.unsupported, config.verify_threshold),
            AbstainStep(config),
            StyleStep(),
        ]
    )
