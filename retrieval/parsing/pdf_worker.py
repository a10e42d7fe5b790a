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
            text = page.extract_text() or ""
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
