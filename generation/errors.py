"""Errors raised by the generation core.

The tree (``app/errors.py`` maps every leaf to one HTTP status)::

    GenerationError
    ├── OverloadedError        queue full: retry later (carries retry_after seconds)
    ├── GenerationTimeoutError request ran past its deadline
    ├── RequestCancelledError  the caller went away
    ├── InvalidGenerationRequestError  bad parameters (e.g. prompt cannot fit)
    └── BackendError           a remote generator failed (bad gateway)
        └── BackendTimeoutError  a remote generator did not answer in time
"""

from __future__ import annotations


class GenerationError(Exception):
    """Base of every error the generation core raises on purpose."""

    code = "generation_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OverloadedError(GenerationError):
    code = "overloaded"

    def __init__(self, message: str = "server is overloaded, retry later", retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GenerationTimeoutError(GenerationError):
    code = "timeout"


class RequestCancelledError(GenerationError):
    code = "cancelled"


class InvalidGenerationRequestError(GenerationError):
    code = "invalid_generation_request"


class BackendError(GenerationError):
    code = "backend_error"


class BackendTimeoutError(BackendError):
    code = "backend_timeout"
