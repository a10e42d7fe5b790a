"""Invariants every chunking result must satisfy (shared by the unit and fuzz tests)."""

from __future__ import annotations

from typing import Any

from retrieval.types import ChunkSpan, ParsedDocument

ENCODER_MAX_TOKENS = 256  # all-MiniLM-L6-v2 reads 256 tokens, [CLS] and [SEP] included


def page_of(doc: ParsedDocument, chunk: ChunkSpan) -> int | None:
    for span in doc.pages:
        if span.start <= chunk.start and chunk.end <= span.end:
            return span.page
    return None


def check_chunks(
    doc: ParsedDocument, chunks: list[ChunkSpan], tokenizer: Any, max_tokens: int = ENCODER_MAX_TOKENS
) -> None:
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text.strip(), "blank chunk"
        assert chunk.text == chunk.text.strip(), "surrounding whitespace not trimmed"
        assert len(tokenizer(chunk.text)["input_ids"]) <= max_tokens
        if doc.pages:
            assert chunk.page is not None
            assert page_of(doc, chunk) == chunk.page, "chunk crosses a page boundary"
        else:
            assert chunk.page is None
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    covered = bytearray(len(doc.text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not missing, f"uncovered characters at {missing[:10]}: {[doc.text[i] for i in missing[:10]]}"
