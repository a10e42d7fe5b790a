"""Plain text: charset detection and the clean-up every extracted text goes through."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from retrieval.budget import WorkBudget
from retrieval.errors import DocumentTooLargeError, EmptyDocumentError
from retrieval.parsing.limits import ParseLimits
from retrieval.types import ParsedDocument

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Vertical tab, form feed, file/group/record separators, NEL and the Unicode line/paragraph
# separators all end a line; everything else below U+0020 (bar \t and \n), DEL, the C1 block,
# stray BOMs and lone surrogates (which cannot be stored as UTF-8) are dropped.
_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")


def strip_bom(data: bytes) -> tuple[bytes, str | None]:
    """Split a leading byte-order mark off ``data``: returns (rest, its encoding or None)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :], encoding
    return data, None


def decode_text(data: bytes) -> str:
    """Bytes of unknown charset to str: BOM, then strict UTF-8, then charset-normalizer's guess.

    Never raises on bad input: bytes the chosen charset cannot map become U+FFFD.
    """
    return decode_with_hint(data, None)


def decode_with_hint(data: bytes, declared: str | None) -> str:
    """Like ``decode_text`` but trusts ``declared`` (e.g. an HTML meta charset) after the BOM."""
    rest, bom_encoding = strip_bom(data)
    if bom_encoding is not None:
        return rest.decode(bom_encoding, errors="replace")
    if declared is not None:
        return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is not None and best.encoding:
        try:
            return data.decode(best.encoding, errors="replace")
        except LookupError:
            pass
    return data.decode("utf-8", errors="replace")


def clean_text(text: str) -> str:
    """Newlines to ``\\n``; drop NUL and other control characters except ``\\n`` and ``\\t``."""
    return _CONTROL.sub("", _NEWLINES.sub("\n", text))


def finish(text: str, limits: ParseLimits, kind: str, **metadata: object) -> ParsedDocument:
    """Apply the checks shared by every format to already-cleaned text."""
    check_chars(len(text), limits)
    if not text.strip():
        raise EmptyDocumentError(f"The {kind} file contains no extractable text.")
    return ParsedDocument(text=text, metadata=dict(metadata))


def check_chars(count: int, limits: ParseLimits) -> None:
    if count > limits.max_chars:
        raise DocumentTooLargeError(f"The document has more than {limits.max_chars} characters of text ({count}).")


def parse_text(data: bytes, limits: ParseLimits, budget: WorkBudget) -> ParsedDocument:
    """A .txt or .md file: decoded and cleaned, otherwise kept as written."""
    text = decode_text(data)  # the one slow step (charset detection), bounded by the upload size
    budget.check()
    return finish(clean_text(text), limits, "text")
