"""DOCX: body paragraphs and table cells, in document order."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from retrieval.budget import Ticker, WorkBudget
from retrieval.errors import CorruptDocumentError, DocumentTooLargeError, RetrievalError
from retrieval.parsing.limits import ParseLimits
from retrieval.parsing.text import clean_text, finish
from retrieval.types import ParsedDocument


def _check_zip(data: bytes, limits: ParseLimits) -> None:
    """A DOCX is a zip of XML; python-docx inflates and parses it whole, so refuse zip bombs up front."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise CorruptDocumentError("The DOCX file is not a readable zip archive.") from exc
    if total > limits.max_unzipped_bytes:
        raise DocumentTooLargeError(
            f"The DOCX file inflates to {total} bytes; at most {limits.max_unzipped_bytes} are accepted."
        )


class _Walker:
    """Reads blocks in order, checking the budget as it goes and each character style's hidden flag once
    (python-docx looks a run's style up by scanning every style of the document)."""

    def __init__(self, budget: WorkBudget) -> None:
        self._ticker = Ticker(budget, every=64)
        self._hidden_styles: dict[str | None, bool] = {}

    def blocks(self, container: Any) -> Iterator[str]:
        """Paragraph texts and table rows of a document body or table cell, in order."""
        from docx.table import Table

        for item in container.iter_inner_content():
            self._ticker.tick()
            if isinstance(item, Table):
                yield from self._table_rows(item)
            else:
                yield self._paragraph_text(item)

    def _hidden(self, run: Any) -> bool:
        """Word's hidden-text attribute, set on the run or on its character style."""
        if run.font.hidden is not None:
            return bool(run.font.hidden)
        style_id = run._r.style
        if style_id not in self._hidden_styles:
            style = run.style
            self._hidden_styles[style_id] = bool(style is not None and style.font.hidden)
        return self._hidden_styles[style_id]

    def _paragraph_text(self, paragraph: Any) -> str:
        """The paragraph's text without hidden runs, which Word does not show or print: a prompt-injection
        defence, like the hidden-text removal of the HTML parser."""
        from docx.text.hyperlink import Hyperlink

        parts = [item.runs if isinstance(item, Hyperlink) else [item] for item in paragraph.iter_inner_content()]
        runs = [run for group in parts for run in group]
        if not any(self._hidden(run) for run in runs):
            return str(paragraph.text)
        return "".join(run.text for run in runs if not self._hidden(run))

    def _table_rows(self, table: Any) -> Iterator[str]:
        for row in table.rows:
            cells: list[str] = []
            seen: set[int] = set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell is repeated once per grid column it spans
                    continue
                seen.add(id(cell._tc))
                cells.append("\n".join(block for block in self.blocks(cell) if block.strip()))
            if any(c.strip() for c in cells):
                yield "\t".join(cells)


def parse_docx(data: bytes, limits: ParseLimits, budget: WorkBudget) -> ParsedDocument:
    """A Word document: one paragraph per block, table rows as tab-separated lines."""
    _check_zip(data, limits)
    from docx import Document

    try:
        document = Document(io.BytesIO(data))
        budget.check()
        blocks = [clean_text(block).strip() for block in _Walker(budget).blocks(document)]
    except (MemoryError, RecursionError, RetrievalError):
        raise
    except Exception as exc:
        raise CorruptDocumentError(f"The DOCX file could not be read ({type(exc).__name__}).") from exc
    metadata: dict[str, Any] = {}
    try:
        title = document.core_properties.title
    except Exception:
        title = None
    if isinstance(title, str) and title.strip():
        metadata["title"] = clean_text(title).strip()
    return finish("\n\n".join(b for b in blocks if b), limits, "DOCX", **metadata)
