"""PDF text per page, read by pypdf in worker processes with bounded time and memory.

A hostile PDF can decompress to gigabytes or nest objects until the parser recurses forever,
so pypdf never runs in the service process. Workers (``pdf_worker.py``, started with
``python -I`` so they import nothing of ours) cap their address space with ``RLIMIT_AS``; the
parent kills a worker that misses the deadline. Workers are reused, so hundreds of PDFs cost
hundreds of requests rather than hundreds of interpreter starts, and recycled after a while
so nothing one file leaks lives long.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from retrieval.budget import WorkBudget
from retrieval.errors import CorruptDocumentError, DocumentTooLargeError, EmptyDocumentError
from retrieval.parsing import pdf_worker
from retrieval.parsing.limits import ParseLimits
from retrieval.parsing.text import check_chars, clean_text
from retrieval.types import PageSpan, ParsedDocument

PAGE_SEPARATOR = "\n\n"
# Seconds between checks of the ingest budget while waiting for a worker.
_POLL_S = 0.25
# Requests one worker serves before it is replaced.
MAX_REQUESTS_PER_WORKER = 200

_WORKER_SCRIPT = str(Path(pdf_worker.__file__).resolve())
# At most one busy worker per core, however many threads ingest at once.
_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
_POOL_LOCK = threading.Lock()
_idle: list[_Worker] = []


class _Worker:
    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.requests = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-I", _WORKER_SCRIPT, str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def ask(self, data: bytes, limits: ParseLimits, budget: WorkBudget) -> dict[str, Any] | None:
        """The worker's reply, or None if it died. Raises TimeoutError past the deadline, and the budget's
        errors when it runs out or is cancelled first."""
        deadline = time.monotonic() + limits.pdf_timeout_s
        self.requests += 1
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(pdf_worker.REQUEST.pack(limits.max_pages, limits.max_chars, len(data)))
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except OSError:  # BrokenPipeError: it died
            return None
        fd = self.proc.stdout.fileno()
        header = self._read(fd, pdf_worker.REPLY.size, deadline, budget)
        if header is None:
            return None
        (size,) = pdf_worker.REPLY.unpack(header)
        payload = self._read(fd, size, deadline, budget)
        if payload is None:
            return None
        reply: dict[str, Any] = json.loads(payload)
        return reply

    @staticmethod
    def _read(fd: int, size: int, deadline: float, budget: WorkBudget) -> bytes | None:
        chunks: list[bytes] = []
        while size:
            budget.check()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not select.select([fd], [], [], min(remaining, _POLL_S))[0]:
                continue
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def _take_worker(memory_bytes: int) -> _Worker:
    with _POOL_LOCK:
        while _idle:
            worker = _idle.pop()
            if worker.alive() and worker.memory_bytes == memory_bytes:
                return worker
            worker.kill()
    return _Worker(memory_bytes)


def _give_back(worker: _Worker) -> None:
    if worker.alive() and worker.requests < MAX_REQUESTS_PER_WORKER:
        with _POOL_LOCK:
            _idle.append(worker)
    else:
        worker.kill()


@atexit.register
def shutdown_workers() -> None:
    """Stop the idle workers (busy ones end when their request does or the service exits)."""
    with _POOL_LOCK:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.kill()


def extract_in_worker(
    data: bytes, limits: ParseLimits, budget: WorkBudget | None = None
) -> tuple[list[str], dict[str, Any]]:
    """Raw page texts and metadata of ``data``, read in a bounded worker process."""
    budget = budget or WorkBudget()
    with _SLOTS:
        try:
            worker = _take_worker(limits.pdf_memory_bytes)
        except OSError as exc:
            raise CorruptDocumentError(f"The PDF reader could not be started ({exc}).") from exc
        reply: dict[str, Any] | None = None
        try:
            reply = worker.ask(data, limits, budget)
        except TimeoutError:
            raise DocumentTooLargeError(f"Reading the PDF took longer than {limits.pdf_timeout_s:g} seconds.") from None
        finally:
            if reply is not None and reply.get("status") in {"ok", "corrupt"}:
                _give_back(worker)
            else:
                worker.kill()
    if reply is None:
        raise CorruptDocumentError("The PDF reader stopped without an answer; the file may be malformed.")
    if reply["status"] == "too_large":
        raise DocumentTooLargeError(str(reply["message"]))
    if reply["status"] != "ok":
        raise CorruptDocumentError(str(reply["message"]))
    return list(reply["pages"]), dict(reply["metadata"])


def parse_pdf(data: bytes, limits: ParseLimits, budget: WorkBudget) -> ParsedDocument:
    """A PDF: page texts joined by a blank line, with one ``PageSpan`` per page."""
    if b"%PDF" not in data[:1024]:
        raise CorruptDocumentError("The file is not a PDF (no %PDF header).")
    raw_pages, metadata = extract_in_worker(data, limits, budget)
    if isinstance(metadata.get("title"), str):
        metadata["title"] = clean_text(metadata["title"]).strip()

    parts: list[str] = []
    spans: list[PageSpan] = []
    offset = 0
    for number, raw in enumerate(raw_pages, start=1):
        if number > 1:
            parts.append(PAGE_SEPARATOR)
            offset += len(PAGE_SEPARATOR)
        page_text = clean_text(str(raw)).strip()
        parts.append(page_text)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        offset += len(page_text)
    text = "".join(parts)
    check_chars(len(text), limits)
    if not text.strip():
        raise EmptyDocumentError(
            "The PDF contains no extractable text (it may be scanned images; OCR is not supported)."
        )
    return ParsedDocument(text=text, pages=tuple(spans), metadata=metadata)
