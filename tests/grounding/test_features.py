import pytest

from grounding.features import claim_text, encode_pairs, token_span


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from grounding.artifact import default_base_path

    return AutoTokenizer.from_pretrained(default_base_path())


def test_long_passage_is_split_with_stride_and_every_character_is_covered(tokenizer) -> None:
    passage = " ".join(f"Clause {i} says the limit is {i * 10} euros." for i in range(120))
    windows = encode_pairs(tokenizer, ["What is the limit?"], [passage], max_length=128, stride=32)
    assert len(windows) > 3
    assert all(len(w.input_ids) <= 128 and w.pair == 0 for w in windows)
    covered = set()
    for w in windows:
        for off in w.offsets:
            if off is not None:
                covered.update(range(*off))
    words = {i for i, ch in enumerate(passage) if not ch.isspace()}
    assert words <= covered


def test_token_span_round_trips_an_answer(tokenizer) -> None:
    passage = "Primary caregivers get 16 weeks of paid parental leave (section 4.1)."
    start = passage.index("16 weeks")
    (window,) = encode_pairs(tokenizer, ["How long is parental leave?"], [passage])
    first, last = token_span(window, start, start + len("16 weeks"))
    first_off, last_off = window.offsets[first], window.offsets[last]
    assert first_off is not None and last_off is not None
    assert passage[first_off[0] : last_off[1]] == "16 weeks"


def test_token_span_outside_the_window_is_none(tokenizer) -> None:
    passage = "word " * 400 + "the answer"
    windows = encode_pairs(tokenizer, ["q?"], [passage], max_length=64, stride=16)
    start = passage.index("the answer")
    assert token_span(windows[0], start, start + 10) is None
    assert token_span(windows[-1], start, start + 10) is not None


def test_claim_text_keeps_question_and_claim() -> None:
    assert claim_text(" Who built it? ", "Marta Quill ") == "Who built it? answer: Marta Quill"


def test_mismatched_lengths_are_refused(tokenizer) -> None:
    with pytest.raises(ValueError):
        encode_pairs(tokenizer, ["a", "b"], ["c"])
