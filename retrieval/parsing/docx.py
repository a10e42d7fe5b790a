"""DOCX: body paragraphs and table cells, in document order."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from retrieval.errors import CorruptDocumentError, DocumentTooLargeError
from retrieval.parsing.limits import ParseLimits
from retrieval.parsing.text import clean_text, finish
from retrieval.types import ParsedDocument

# A DOCX is a zip of XML; python-docx inflates and parses it whole, so refuse zip bombs up front.
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise CorruptDocumentError("The DOCX file is not a readable zip archive.") from exc
    if total > MAX_UNCOMPRESSED_BYTES:
        raise DocumentTooLargeError(
            f"The DOCX file inflates to {total} bytes; at most {MAX_UNCOMPRESSED_BYTES} are accepted."
        )


def _blocks(container: Any) -> Iterator[str]:
    """Paragraph texts and table rows of a document body or table cell, in order."""
    from docx.table import Table

    for item in container.iter_inner_content():
        if isinstance(item, Table):
            yield from _table_rows(item)
        else:
            yield _paragraph_text(item)


def _hidden(run: Any) -> bool:
    """Word's hidden-text attribute, set on the run or on its character style."""
    if run.font.hidden is not None:
        return bool(run.font.hidden)
    style = run.style
    return bool(style is not None and style.font.hidden)


def _paragraph_text(paragraph: Any) -> str:
    """The paragraph's text without hidden runs, which Word does not show or print: a prompt-injection
    defence, like the hidden-text removal of the HTML parser."""
    from docx.text.hyperlink import Hyperlink

    parts = [item.runs if isinstance(item, Hyperlink) else [item] for item in paragraph.iter_inner_content()]
    runs = [run for group in parts for run in group]
    if not any(_hidden(run) for run in runs):
        return str(paragraph.text)
    return "".join(run.text for run in runs if not _hidden(run))


def _table_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append("\n".join(block for block in _blocks(cell) if block.strip()))
        if any(c.strip() for c in cells):
            yield "\t".join(cells)


def parse_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """A Word document: one paragraph per block, table rows as tab-separated lines."""
    _check_zip(data)
    from docx import Document

    try:
        document = Document(io.BytesIO(data))
        blocks = [clean_text(block).strip() for block in _blocks(document)]
    except (MemoryError, RecursionError):
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
