from __future__ import annotations

import pytest

from generation.adjustment.abstain import AbstainStep, model_declined, question_negation
from generation.adjustment.pipeline import AdjustmentConfig, AdjustmentPipeline, build_default_pipeline
from generation.adjustment.types import AdjustedAnswer
from retrieval.types import SearchHit
from tests.generation.adjustment.helpers import abstention, context, hit, passage, passages

PIPE = build_default_pipeline(AdjustmentConfig())


def ask(question: str, answer: str, **kw: object) -> AdjustedAnswer:
    return PIPE.run(context(question, answer, **kw))


def test_supported_answer_is_kept() -> None:
    out = ask("Who led the Normans?", "Rollo was their leader [1].")
    assert not out.abstained and out.answer == "Rollo was their leader [1]."
    assert abstention(out).reason is None and abstention(out).signals.support > 0.9


@pytest.mark.parametrize(
    ("question", "answer", "kw", "reason"),
    [
        ("Who led them?", "Rollo", {"passages": []}, "no_passages"),
        (
            "Who led them?",
            "Rollo",
            {"passages": [passage(1, "The Normans", "in 911.", relevance=0.05)]},
            "low_relevance",
        ),
        ("Who led them?", "<|im_end|>", {}, "empty_answer"),
        ("Who led them?", "I don't know.", {}, "model_declined"),
        ("Who led them?", "The documents do not mention a leader.", {}, "model_declined"),
        ("Who won the Battle of Hastings in 1067?", "William the Conqueror", {}, "missing_key_terms"),
        ("Who led the Vikings to Paris?", "Rollo", {}, "missing_key_terms"),
        ("Who led them?", "Harald Hardrada led them in 1000.", {}, "low_support"),
    ],
)
def test_abstains_with_the_reason(question: str, answer: str, kw: dict[str, object], reason: str) -> None:
    out = ask(question, answer, **kw)
    assert out.abstained and out.answer == "The documents don't say."
    assert abstention(out).reason == reason and f"abstain:{reason}" in out.adjustments
    assert out.citations == [] and out.sentences == []


def test_short_answers_from_the_right_passage_are_kept() -> None:
    assert not ask("When was the Battle of Hastings fought?", "1066", detail="short").abstained
    assert not ask("Who swore fealty to King Charles III?", "Rollo", detail="short").abstained


def test_abstain_scores_support_itself_when_the_citation_check_is_off() -> None:
    pipe = AdjustmentPipeline([AbstainStep(AdjustmentConfig())])
    assert pipe.run(context("Who led them?", "Harald Hardrada led them in 1000.")).abstained
    assert not pipe.run(context("Who led them?", "Rollo was their leader.")).abstained


def test_thresholds_are_configurable() -> None:
    lenient = AdjustmentPipeline([AbstainStep(AdjustmentConfig(support_threshold=0.0, require_key_terms=False))])
    assert not lenient.run(context("Who led them in 1200?", "Harald Hardrada")).abstained
    custom = build_default_pipeline(AdjustmentConfig(abstain_answer="No idea."))
    assert custom.run(context("q", "I don't know", passages=passages())).answer == "No idea."


@pytest.mark.parametrize(
    "text", ["I don't know.", "I cannot answer that.", "This is not mentioned in the passages.", "No information."]
)
def test_declines_are_recognised(text: str) -> None:
    assert model_declined(text)


def test_ordinary_answers_are_not_declines() -> None:
    assert not model_declined("Rollo knew the king.")


def test_key_terms_away_from_the_evidence_abstain_only_when_switched_on() -> None:
    # A name from elsewhere in the passages: the answer's evidence never mentions England.
    question, answer = "Who swore fealty to the king of England?", "Rollo"
    default = ask(question, answer)
    assert not default.abstained and abstention(default).signals.key_terms_away_from_evidence == ["england"]
    strict = build_default_pipeline(AdjustmentConfig(key_terms_near_evidence=True)).run(context(question, answer))
    assert strict.abstained and abstention(strict).reason == "key_terms_away_from_evidence"


def test_a_negated_question_the_passages_never_negate_abstains() -> None:
    # The passages say Rollo swore fealty; the question asks who did not: the answer would be a guess.
    out = ask("Who did not swear fealty to King Charles III?", "Rollo")
    assert out.abstained and abstention(out).reason == "unstated_negation"
    assert abstention(out).signals.unstated_negation == "not"


def test_a_negated_question_is_answered_when_the_passages_state_the_negation() -> None:
    doc = "The Normans were not Christians at first. Rollo was their leader and swore fealty to King Charles III."
    p = hit(1, "doc-2", "normans.txt", 1, 0, len(doc), doc, 1.0, 0.6)
    out = ask("Who were not Christians at first?", "The Normans", passages=[p])
    assert not out.abstained and abstention(out).signals.unstated_negation is None


def test_the_negation_rule_can_be_switched_off() -> None:
    lenient = build_default_pipeline(AdjustmentConfig(require_stated_negation=False))
    out = lenient.run(context("Who did not swear fealty to King Charles III?", "Rollo"))
    assert not out.abstained and abstention(out).signals.unstated_negation == "not"


@pytest.mark.parametrize(
    ("question", "negation"),
    [
        ("What does not solve the problem?", "not"),
        ("Why didn't the king agree?", "didn't"),
        ("Which region has no coast?", "no"),
        ("Who never married?", "never"),
        ("Who not only led the Normans but also founded a duchy?", None),
        ("How powerful may or may not a Turing machine be?", None),
        ("Was it decided whether or not to attack?", None),
        ("Who led the Normans?", None),
    ],
)
def test_question_negation(question: str, negation: str | None) -> None:
    assert question_negation(question) == negation


def test_a_short_answer_that_names_nothing_abstains() -> None:
    # Asked for a phrase, the model wrote around the question; shortening finds no phrase in it.
    rambling = "The passage is discussing the Normans and their settlement in the north of France over many years."
    out = ask("Who led the Normans?", rambling, detail="short")
    assert out.abstained and abstention(out).reason == "no_answer_phrase"
    assert abstention(out).signals.answer_phrase is False


def test_the_answer_phrase_rule_holds_only_for_short_answers_and_can_be_switched_off() -> None:
    sentence = "Rollo was their leader and agreed to swear fealty to King Charles III in 911."
    normal = ask("Who led the Normans?", sentence)
    assert not normal.abstained and abstention(normal).signals.answer_phrase is None
    lenient = build_default_pipeline(AdjustmentConfig(require_answer_phrase=False))
    out = lenient.run(context("Who led the Normans?", sentence, detail="short"))
    assert abstention(out).signals.answer_phrase is False and not out.abstained
    assert not ask("Who led the Normans?", "Rollo", detail="short").abstained


def test_a_question_whose_word_the_passages_state_the_opposite_of_abstains() -> None:
    # The passages say William won the battle; the question asks who lost it.
    out = ask("Who lost the battle and became king of England?", "William the Conqueror")
    assert out.abstained and abstention(out).reason == "stated_opposite"
    assert abstention(out).signals.stated_opposite == "lost~won"
    kept = ask("Who won the battle and became king of England?", "William the Conqueror")
    assert not kept.abstained and abstention(kept).signals.stated_opposite is None


def test_the_opposite_rule_can_be_switched_off() -> None:
    lenient = build_default_pipeline(AdjustmentConfig(reject_stated_opposite=False))
    out = lenient.run(context("Who lost the battle and became king of England?", "William the Conqueror"))
    assert not out.abstained and abstention(out).signals.stated_opposite == "lost~won"


def test_a_model_that_says_the_passage_lacks_the_answer_declined() -> None:
    assert model_declined("The passage is a list of names, but it does not contain the answer to the question.")


def test_a_decline_that_shortening_cut_away_still_abstains() -> None:
    # Shortened alone, "a list of names" would look like an answer phrase.
    raw = "The passage is a list of names, but it does not contain the answer to the question."
    out = ask("How many campuses does the university have?", raw, detail="short")
    assert out.abstained and abstention(out).reason == "model_declined"


def test_a_count_may_be_written_in_digits_or_in_words() -> None:
    def said(text: str) -> list[SearchHit]:
        return [hit(1, "doc-2", "bretons.txt", None, 0, len(text), text, 1.0, 0.6)]

    words, digits = (
        said("The Normans fought two wars with the Bretons."),
        said("The Normans fought 2 wars with the Bretons."),
    )
    question = "How many wars did the Normans fight with the Bretons?"
    out = ask(question, "2", detail="short", passages=words)
    assert not out.abstained and out.support == 1.0
    assert not ask(question, "two", detail="short", passages=digits).abstained
    assert not ask("Who fought 2 wars with the Bretons?", "The Normans", detail="short", passages=words).abstained
    assert ask(question, "3", detail="short", passages=words).abstained
