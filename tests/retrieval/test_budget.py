"""The ingest work budget: pathological files trip it inside the parser or chunker, a stop stores nothing.

The budgets here run on a clock that advances one second per reading, so "trips after N checks" is
exact on any machine: a file whose parse or chunking checks the budget more often than a normal file
is one whose work grows with its size and is bounded by the budget.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.budget import WorkBudget
from retrieval.chunking import TokenChunker
from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.errors import DocumentTooLargeError, IngestCancelledError, IngestTimeoutError
from retrieval.parsing import ParseLimits, parse_document
from retrieval.service import RetrievalService


def checks_allowed(n: int) -> WorkBudget:
    """A budget that lets exactly ``n`` checks pass and fails the next one."""
    ticks = itertools.count()
    return WorkBudget(n + 0.5, clock=lambda: float(next(ticks)))


class CancelAt(WorkBudget):
    """Cancelled (as by a client disconnect) just before its ``n``-th check; counts the checks it saw."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.checks == self.n:
            self.cancel()
        super().check()


def _docx(paragraphs: int) -> bytes:
    from docx import Document

    document = Document()
    for i in range(paragraphs):
        document.add_paragraph(f"Paragraph {i} says a a a.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_budget_counts_time_and_cancellation() -> None:
    budget = checks_allowed(2)
    budget.check()
    budget.check()
    with pytest.raises(IngestTimeoutError):
        budget.check()
    cancelled = WorkBudget()
    cancelled.cancel()
    with pytest.raises(IngestCancelledError):
        cancelled.check()
    assert isinstance(IngestTimeoutError("x"), DocumentTooLargeError)  # answered 413 like the other caps


def test_pathological_docx_trips_the_budget_while_parsing() -> None:
    assert parse_document("small.docx", _docx(3), budget=checks_allowed(2)).text.startswith("Paragraph 0")
    with pytest.raises(IngestTimeoutError):
        parse_document("long.docx", _docx(400), budget=checks_allowed(2))


def test_deeply_nested_html_trips_the_budget_while_parsing() -> None:
    assert "hello" in parse_document("small.html", b"<p>hello</p>", budget=checks_allowed(2)).text
    page = "<div>" * 3000 + "deep" + "</div>" * 3000
    with pytest.raises(IngestTimeoutError):
        parse_document("deep.html", page.encode(), budget=checks_allowed(2))


def test_html_element_cap() -> None:
    page = ("<span>x</span>" * 200).encode()
    assert parse_document("ok.html", page, ParseLimits(max_html_elements=1000)).text
    with pytest.raises(DocumentTooLargeError, match="elements"):
        parse_document("many.html", page, ParseLimits(max_html_elements=100))


def test_docx_unzipped_cap_comes_from_the_limits() -> None:
    data = _docx(50)
    assert parse_document("a.docx", data, ParseLimits(max_unzipped_bytes=10 << 20)).text
    with pytest.raises(DocumentTooLargeError, match="inflates"):
        parse_document("a.docx", data, ParseLimits(max_unzipped_bytes=20_000))


def test_pathological_text_trips_the_budget_while_chunking(encoder: SentenceTransformerEncoder) -> None:
    chunker = TokenChunker(encoder.tokenizer, chunk_tokens=200, overlap=40, max_tokens=encoder.max_tokens)
    normal = parse_document("n.txt", b"A short note about the harbour.", budget=checks_allowed(1))
    assert chunker.chunk(normal, checks_allowed(1))
    hostile = parse_document("a.txt", b"a " * 200_000)  # 200k tokens, about 1,250 chunks
    with pytest.raises(IngestTimeoutError):
        chunker.chunk(hostile, checks_allowed(2))


@pytest.fixture
def service(tmp_path: Path, encoder: SentenceTransformerEncoder) -> Iterator[RetrievalService]:
    svc = RetrievalService(backend=EmbeddedBackend(tmp_path / "data", save_interval_s=0.0), encoder=encoder)
    svc.load()
    yield svc
    svc.close()


FILES = [
    ("one.txt", b"The lighthouse keeper lights the lamp at dusk. " * 40),
    ("two.html", b"<p>" + b"Ferries leave the north pier every hour. " * 40 + b"</p>"),
]


def test_a_cancelled_ingest_stores_nothing_wherever_it_stops(service: RetrievalService) -> None:
    counter = CancelAt(0)  # never cancels: counts the checks of a full ingest
    service.ingest(tenant="probe", collection="c", files=FILES, budget=counter)
    assert counter.checks >= 4  # parse, chunk, each embedding slice, and once before storing
    for n in range(1, counter.checks + 1):
        with pytest.raises(IngestCancelledError):
            service.ingest(tenant="t", collection="c", files=FILES, budget=CancelAt(n))
        assert service.list_documents("t") == ([], 0), n
        assert service.search("t", "lighthouse keeper", top_k=3) == []
    assert service.stats()["tenants"].get("t") is None
    # And the same files go in whole afterwards.
    assert len(service.ingest(tenant="t", collection="c", files=FILES)) == 2
    assert service.list_documents("t")[1] == 2
