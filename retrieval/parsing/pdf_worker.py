"""A PDF text-extraction worker process: stdlib and pypdf only, run as a script by ``pdf.py``.

Started as ``python -I pdf_worker.py MEMORY_BYTES``; it caps its own address space, then
answers requests on stdin/stdout until stdin closes. Protocol, all integers big-endian:
request ``>QQQ`` (max_pages, max_chars, n) followed by n bytes of PDF; reply ``>Q`` n followed
by n bytes of JSON: ``{"status": "ok", "pages": [...], "metadata": {...}}`` or
``{"status": "too_large" | "corrupt", "message": "..."}``. After a memory error it answers
and exits, since the heap may be left in a bad state.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import sys
from typing import Any, BinaryIO

REQUEST = struct.Struct(">QQQ")
REPLY = struct.Struct(">Q")


class TooLarge(Exception):
    """A cap was hit; the message names it."""


class Unreadable(Exception):
    """The PDF cannot be read; the message says why."""


def limit_memory(memory_bytes: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# Every channel at least this light counts as white: text drawn in it on a white page cannot be read.
_WHITE = 0.94
_SHOW_OPS = {b"Tj", b"TJ", b"'", b'"'}
_FILL_OPS = {b"rg": 3, b"g": 1, b"k": 4, b"sc": 0, b"scn": 0}
_STROKE_OPS = {b"RG": 3, b"G": 1, b"K": 4, b"SC": 0, b"SCN": 0}
# Painting that may lay a dark background under white text (paths, images, forms, shadings).
_PAINT_OPS = {b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"Do", b"sh", b"BI", b"INLINE IMAGE"}


def _is_white(args: list[Any]) -> bool:
    """Whether colour operands (gray, RGB or CMYK, 0..1) are white; a pattern or anything odd is not."""
    try:
        values = [float(a) for a in args]
    except (TypeError, ValueError):
        return False
    if len(values) == 4:  # CMYK
        c, m, y, k = values
        values = [(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)]
    return len(values) in (1, 3) and all(v >= _WHITE for v in values)


def _shown_text(args: list[Any]) -> str:
    """The string operands of a text-showing operator, read as Latin-1 (exact for simple fonts)."""
    parts: list[str] = []
    for a in args:
        items = a if isinstance(a, list) else [a]
        for item in items:
            if isinstance(item, bytes):
                parts.append(item.decode("latin-1"))
            elif isinstance(item, str) and not hasattr(item, "idnum"):
                parts.append(str(item))
    return "".join(parts)


class HiddenText:
    """Follows the graphics state while pypdf extracts a page, to drop text a reader cannot see: the
    invisible render modes (3, 7) and white text on a page where nothing but white was painted first
    (white text on a dark box is visible, so after any painting it is kept). A prompt-injection defence,
    like the hidden-text removal of the HTML parser."""

    def __init__(self) -> None:
        self.fill_white = self.stroke_white = False
        self.mode = 0
        self.stack: list[tuple[bool, bool, int]] = []
        self.painted = False
        self.found = False
        self.broken = False
        self.pieces: list[str] = []
        self._visible_shown = False
        self._hidden_shown: list[str] = []

    def _hidden_now(self) -> bool:
        if self.mode in (3, 7):
            return True
        white = self.stroke_white if self.mode in (1, 5) else self.fill_white
        return white and not self.painted

    def before(self, op: bytes, args: list[Any], cm: Any, tm: Any) -> None:
        try:
            if op == b"q":
                self.stack.append((self.fill_white, self.stroke_white, self.mode))
            elif op == b"Q" and self.stack:
                self.fill_white, self.stroke_white, self.mode = self.stack.pop()
            elif op in _FILL_OPS:
                self.fill_white = _is_white(args)
            elif op in _STROKE_OPS:
                self.stroke_white = _is_white(args)
            elif op == b"cs":
                self.fill_white = False
            elif op == b"CS":
                self.stroke_white = False
            elif op == b"Tr" and args:
                self.mode = int(args[0])
            elif op in _PAINT_OPS and (op in (b"Do", b"sh", b"BI", b"INLINE IMAGE") or not self.fill_white):
                self.painted = True
            elif op in _SHOW_OPS:
                if self._hidden_now():
                    self._hidden_shown.append(_shown_text(args))
                else:
                    self._visible_shown = True
        except Exception:
            self.broken = True

    def text(self, text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        """pypdf hands over the text of the show operators seen since its last call (plus layout)."""
        try:
            if self._hidden_shown:
                self.found = True
                if not self._visible_shown:  # all of it hidden: keep at most the line break it ends
                    ends_line = text.endswith("\n") and bool(self.pieces) and not self.pieces[-1].endswith("\n")
                    text = "\n" if ends_line else ""
                else:  # mixed in one piece: cut the hidden strings out where they can be found
                    for hidden in self._hidden_shown:
                        if hidden.strip():
                            text = text.replace(hidden, "", 1)
            self.pieces.append(text)
            self._visible_shown = False
            self._hidden_shown = []
        except Exception:
            self.broken = True


def page_text(page: Any) -> str:
    """The page's text without what a reader cannot see (see ``HiddenText``); pypdf's text unchanged when
    nothing is hidden."""
    hidden = HiddenText()
    full = page.extract_text(visitor_operand_before=hidden.before, visitor_text=hidden.text) or ""
    if not hidden.found or hidden.broken:
        return str(full)
    return "".join(hidden.pieces)


def extract_pages(data: bytes, max_pages: int, max_chars: int) -> tuple[list[str], dict[str, Any]]:
    """The raw text of every page, and the page count and title."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            reader.decrypt("")
        except Exception as exc:
            raise Unreadable("The PDF is encrypted and cannot be read.") from exc
    page_count = len(reader.pages)
    if page_count > max_pages:
        raise TooLarge(f"The PDF has {page_count} pages; at most {max_pages} are accepted.")
    pages: list[str] = []
    total = 0
    failures = 0
    for page in reader.pages:
        try:
            text = page_text(page)
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "LimitReachedError":  # pypdf's own decompression-bomb guard
                raise TooLarge("A stream in the PDF decompresses to more than pypdf allows.") from exc
            failures += 1
            text = ""
        total += len(text)
        if total > max_chars:
            raise TooLarge(f"The PDF has more than {max_chars} characters of text.")
        pages.append(text)
    if page_count and failures == page_count:
        raise Unreadable("No page of the PDF could be read.")
    metadata: dict[str, Any] = {"page_count": page_count}
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        title = None
    if isinstance(title, str) and title.strip():
        metadata["title"] = title
    return pages, metadata


def handle(data: bytes, max_pages: int, max_chars: int) -> dict[str, Any]:
    try:
        return _handle(data, max_pages, max_chars)
    except Exception as exc:
        return {"status": "corrupt", "message": f"The PDF could not be read ({type(exc).__name__})."}


def _handle(data: bytes, max_pages: int, max_chars: int) -> dict[str, Any]:
    try:
        pages, metadata = extract_pages(data, max_pages, max_chars)
    except MemoryError:
        return {"status": "too_large", "message": "Reading the PDF needed more memory than allowed."}
    except RecursionError:
        return {"status": "corrupt", "message": "The PDF nests objects too deeply to be read."}
    except TooLarge as exc:
        return {"status": "too_large", "message": str(exc)}
    except Unreadable as exc:
        return {"status": "corrupt", "message": str(exc)}
    except Exception as exc:
        if type(exc).__name__ == "LimitReachedError":
            return {"status": "too_large", "message": f"The PDF exceeds a pypdf safety limit ({exc})."}
        raise
    return {"status": "ok", "pages": pages, "metadata": metadata}


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def main() -> None:
    import pypdf  # noqa: F401  (loaded before the cap, and once per worker rather than per file)

    requests = sys.stdin.buffer
    # Keep the reply channel private: anything a library prints goes to stderr instead.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    limit_memory(int(sys.argv[1]))
    while True:
        header = _read_exact(requests, REQUEST.size)
        if header is None:
            return
        max_pages, max_chars, size = REQUEST.unpack(header)
        data = _read_exact(requests, size)
        if data is None:
            return
        reply = handle(data, max_pages, max_chars)
        del data
        try:
            payload = json.dumps(reply).encode()
        except MemoryError:
            reply = {"status": "too_large", "message": "The PDF's text needed more memory than allowed."}
            payload = json.dumps(reply).encode()
        replies.write(REPLY.pack(len(payload)) + payload)
        replies.flush()
        if reply["status"] == "too_large":
            return


if __name__ == "__main__":
    main()
