"""One error body, one mapping from error class to HTTP status.

The core never knows about HTTP: it raises ``RetrievalError`` / ``GenerationError``
subclasses (see ``retrieval/errors.py`` and ``generation/errors.py``), and the HTTP
layer raises ``AppError`` subclasses. ``STATUS_BY_ERROR`` below is the only place
where an error kind becomes a status code. Every error body has the shape::

    {"error": {"code": "...", "message": "...", "request_id": "..."}}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from generation import errors as gen
from retrieval import errors as ret

logger = logging.getLogger(__name__)


class DataFolderInUseError(RuntimeError):
    """Another process (a running server, or another `rag ingest`) holds the data folder's writer lock."""

    def __init__(self, index_dir: Path) -> None:
        super().__init__(f"another process is using {index_dir}; stop it, or ingest through it with `rag ingest --url`")
        self.index_dir = index_dir


class AppError(Exception):
    """Errors raised by the HTTP layer itself."""

    code = "error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class AuthenticationError(AppError):
    code = "unauthorized"


class InvalidRequestError(AppError):
    code = "invalid_request"


class PayloadTooLargeError(AppError):
    code = "payload_too_large"


class RateLimitedError(AppError):
    code = "rate_limited"


class RequestTimeoutError(AppError):
    code = "timeout"


class NotReadyError(AppError):
    code = "not_ready"


class ServiceBusyError(AppError):
    code = "overloaded"


class FeedbackNotFoundError(AppError):
    """Feedback named an answer id that does not exist for this tenant (or belongs to another)."""

    code = "answer_not_found"


# The one mapping. Lookup walks the class's MRO, so a subclass inherits its parent's status.
STATUS_BY_ERROR: dict[type[Exception], int] = {
    AuthenticationError: 401,
    InvalidRequestError: 422,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
    RequestTimeoutError: 504,
    NotReadyError: 503,
    ServiceBusyError: 503,
    FeedbackNotFoundError: 404,
    ret.UnsupportedMediaTypeError: 415,
    ret.EmptyDocumentError: 422,
    ret.CorruptDocumentError: 422,
    ret.DocumentTooLargeError: 413,
    ret.DocumentNotFoundError: 404,
    ret.IngestCancelledError: 499,
    ret.IndexUnavailableError: 503,
    ret.RetrievalError: 400,
    gen.OverloadedError: 503,
    gen.GenerationTimeoutError: 504,
    gen.RequestCancelledError: 499,
    gen.InvalidGenerationRequestError: 422,
    gen.BackendTimeoutError: 504,
    gen.BackendError: 502,
    gen.GenerationError: 500,
}


def status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    rid = request_id_of(request)
    all_headers = {"X-Request-ID": rid} if rid else {}
    all_headers.update(headers or {})
    return JSONResponse(error_body(code, message, rid), status_code=status, headers=all_headers)


def in_band_error(request: Request, exc: Exception) -> dict[str, Any]:
    """The error body for a failure after a stream's 200 status line has gone out, with its status inside."""
    status = status_for(exc)
    known = hasattr(exc, "code") and status != 500
    if not known:
        logger.error("stream of request %s failed", request_id_of(request), exc_info=exc)
    body = error_body(
        str(getattr(exc, "code", "")) if known else "internal_error",
        str(getattr(exc, "message", "") or exc) if known else "internal server error",
        request_id_of(request),
    )
    body["error"]["status"] = status
    return body


def headers_for(exc: Exception) -> dict[str, str]:
    headers = dict(getattr(exc, "headers", {}) or {})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if isinstance(exc, AuthenticationError):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return headers


async def _handle_known(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    code = str(getattr(exc, "code", "error"))
    message = str(getattr(exc, "message", "") or exc)
    if status >= 500 and status not in (502, 503, 504):
        logger.error("request %s failed: %s", request_id_of(request), message)
    return error_response(request, status, code, message, headers_for(exc))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


_UNPARSABLE_BODY = "There was an error parsing the body"


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and str(exc.detail).startswith(_UNPARSABLE_BODY):
        # FastAPI answers 422 for malformed JSON but 400 for a body it cannot even decode (bad UTF-8):
        # both are the same client mistake, so both get the documented 422.
        return error_response(request, 422, "invalid_request", "request body is not valid UTF-8 JSON")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def describe_malformed_json(body: object, position: int, reason: str) -> str:
    """Where a JSON body stops parsing: line, column and character offset, with the parser's reason."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body if isinstance(body, str) else ""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"the body is not valid JSON: {reason} at line {line}, column {column} (character {position})"


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if errors and errors[0].get("type") == "json_invalid":
        loc = errors[0].get("loc", ())
        position = loc[-1] if loc and isinstance(loc[-1], int) else 0
        reason = str((errors[0].get("ctx") or {}).get("error") or "JSON decode error")
        return error_response(request, 422, "invalid_request", describe_malformed_json(exc.body, position, reason))
    return error_response(request, 422, "invalid_request", _describe_validation(exc))


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error in request %s", request_id_of(request))
    return error_response(request, 500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    for cls in (AppError, ret.RetrievalError, gen.GenerationError):
        app.add_exception_handler(cls, _handle_known)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(Exception, _handle_unexpected)
