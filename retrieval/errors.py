"""Errors raised by the retrieval core.

The tree (``app/errors.py`` maps every leaf to one HTTP status)::

    RetrievalError
    ├── UnsupportedMediaTypeError   file type we cannot parse
    ├── EmptyDocumentError          nothing extractable in the file
    ├── DocumentTooLargeError       bytes, pages, characters or chunks over a cap
    │   └── IngestTimeoutError      parsing, chunking and embedding ran past the time budget
    ├── IngestCancelledError        the client went away before the upload was stored
    ├── CorruptDocumentError        parser could not read the file
    ├── DocumentNotFoundError       unknown id (or another tenant's)
    └── IndexUnavailableError       index not loaded yet / being rebuilt
        └── StorageUnavailableError the database cannot be reached (retry after ``retry_after`` s)
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base of every error the retrieval core raises on purpose."""

    code = "retrieval_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def naming(self, filename: str) -> RetrievalError:
        """The same error, its message led by the file it is about (one of several in a request)."""
        named = type(self)(f"{filename}: {self.message}")
        named.__dict__.update({k: v for k, v in self.__dict__.items() if k != "message"})
        return named


class UnsupportedMediaTypeError(RetrievalError):
    code = "unsupported_media_type"


class EmptyDocumentError(RetrievalError):
    code = "empty_document"


class DocumentTooLargeError(RetrievalError):
    code = "document_too_large"


class IngestTimeoutError(DocumentTooLargeError):
    code = "ingest_timeout"


class IngestCancelledError(RetrievalError):
    code = "ingest_cancelled"


class CorruptDocumentError(RetrievalError):
    code = "corrupt_document"


class DocumentNotFoundError(RetrievalError):
    code = "document_not_found"


class IndexUnavailableError(RetrievalError):
    code = "index_unavailable"


class StorageUnavailableError(IndexUnavailableError):
    code = "storage_unavailable"
    retry_after = 2.0
