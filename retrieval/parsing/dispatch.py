"""``parse_document``: pick a parser by extension, and let only documented errors out."""

from __future__ import annotations

import logging
from collections.abc import Callable

from retrieval.budget import WorkBudget
from retrieval.errors import (
    CorruptDocumentError,
    DocumentTooLargeError,
    EmptyDocumentError,
    RetrievalError,
    UnsupportedMediaTypeError,
)
from retrieval.parsing.limits import SUPPORTED_EXTENSIONS, ParseLimits
from retrieval.types import ParsedDocument

logger = logging.getLogger(__name__)

Parser = Callable[[bytes, ParseLimits, WorkBudget], ParsedDocument]


def _parser_for(extension: str) -> Parser:
    # Imported lazily so importing retrieval.parsing stays cheap.
    if extension in {".txt", ".md", ".markdown"}:
        from retrieval.parsing.text import parse_text

        return parse_text
    if extension in {".html", ".htm"}:
        from retrieval.parsing.html import parse_html

        return parse_html
    if extension == ".pdf":
        from retrieval.parsing.pdf import parse_pdf

        return parse_pdf
    from retrieval.parsing.docx import parse_docx

    return parse_docx


def parse_document(
    filename: str, data: bytes, limits: ParseLimits | None = None, budget: WorkBudget | None = None
) -> ParsedDocument:
    """Extract the text of one uploaded file, chosen by its extension (case-insensitive).

    Raises UnsupportedMediaTypeError, EmptyDocumentError, CorruptDocumentError or
    DocumentTooLargeError (IngestTimeoutError past ``budget``), or IngestCancelledError once
    ``budget`` is cancelled; never anything else, whatever ``data`` holds.
    """
    limits = limits or ParseLimits()
    budget = budget or WorkBudget()
    basename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    extension = "." + basename.rsplit(".", 1)[1].lower() if "." in basename else ""
    if extension not in SUPPORTED_EXTENSIONS:
        shown = repr(extension) if extension else "no extension"
        raise UnsupportedMediaTypeError(
            f"Unsupported file type ({shown}); supported types are {', '.join(sorted(SUPPORTED_EXTENSIONS))}."
        )
    if not data or not bytes(data).strip():
        raise EmptyDocumentError("The file is empty.")
    parser = _parser_for(extension)
    try:
        return parser(bytes(data), limits, budget)
    except RetrievalError:
        raise
    except MemoryError as exc:
        raise DocumentTooLargeError(f"The {extension} file needs too much memory to parse.") from exc
    except RecursionError as exc:
        raise CorruptDocumentError(f"The {extension} file nests too deeply to parse.") from exc
    except Exception as exc:
        logger.warning("parser for %s failed: %r", extension, exc)
        raise CorruptDocumentError(f"The {extension} file could not be read ({type(exc).__name__}).") from exc
