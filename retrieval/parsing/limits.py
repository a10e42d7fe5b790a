"""Caps that bound what one parse may cost, and the file types we accept."""

from __future__ import annotations

from dataclasses import dataclass

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"})


@dataclass(frozen=True)
class ParseLimits:
    """Per-document caps; going over any of them raises ``DocumentTooLargeError``."""

    max_pages: int = 2000
    max_chars: int = 5_000_000
    # Wall-clock seconds and address-space bytes of the child process that reads one PDF.
    pdf_timeout_s: float = 30.0
    pdf_memory_bytes: int = 1 << 30
    # Bytes a DOCX (a zip of XML) may inflate to, all its parts together.
    max_unzipped_bytes: int = 64 * 1024 * 1024
    # Elements an HTML page may have (each costs about a kilobyte as a parsed tree).
    max_html_elements: int = 300_000

    def __post_init__(self) -> None:
        if self.max_pages < 1 or self.max_chars < 1:
            raise ValueError("max_pages and max_chars must be at least 1")
        if (
            self.pdf_timeout_s <= 0
            or self.pdf_memory_bytes < 1
            or min(self.max_unzipped_bytes, self.max_html_elements) < 1
        ):
            raise ValueError("the PDF, unzipped-size and HTML-element limits must be positive")
