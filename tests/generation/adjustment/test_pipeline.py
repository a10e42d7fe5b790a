from __future__ import annotations

import pytest

from generation.adjustment.pipeline import AdjustmentConfig, AdjustmentPipeline, build_default_pipeline
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext
from tests.generation.adjustment.helpers import DOC, context

PIPE = build_default_pipeline(AdjustmentConfig())


def test_default_order() -> None:
    assert PIPE.step_names == ["correct", "content_rules", "shorten", "citations", "reader", "abstain", "style"]


def test_all_steps_run_and_are_listed() -> None:
    raw = "<|im_start|>assistant\nAccording to passage 1, Rollo was their leader (1). Rollo was their leader (1)."
    out = PIPE.run(context("Who was the Norse leader?", raw))
    assert out.answer == "Rollo was their leader [1]."
    assert [a for a in out.adjustments if ":" not in a] == PIPE.step_names
    assert "correct:removed_repetition" in out.adjustments and not out.abstained
    assert all(DOC[c.start : c.end] == c.text for c in out.citations) and out.citations


def test_steps_can_be_switched_off_per_request() -> None:
    raw = "Rollo was their leader! Mail rollo@example.com."
    only_style = PIPE.run(context("q", raw), enabled={"style"})
    assert only_style.adjustments[0] == "style" and only_style.answer.startswith("Rollo was their leader.")
    assert "rollo@example.com" in only_style.answer and only_style.citations == []
    nothing = PIPE.run(context("q", raw), enabled=())
    assert nothing.answer == raw and nothing.adjustments == []
    no_rules = PIPE.run(context("Who led?", raw), enabled={"correct", "citations"})
    assert "rollo@example.com" in no_rules.answer and no_rules.adjustments[0] == "correct"


def test_unknown_step_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown adjustment steps"):
        PIPE.run(context("q", "a"), enabled={"spellcheck"})


def test_custom_steps_compose() -> None:
    class Upper:
        name = "upper"

        def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
            state.answer = state.answer.upper()
            return state

    out = AdjustmentPipeline([Upper()]).run(context("q", "rollo"))
    assert out.answer == "ROLLO" and out.adjustments == ["upper"]
    with pytest.raises(ValueError, match="duplicate"):
        AdjustmentPipeline([Upper(), Upper()])
