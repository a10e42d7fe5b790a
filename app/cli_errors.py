"""What the ``rag`` command prints when something goes wrong: one line with a hint, never a traceback.

``describe`` turns any exception into a ``CliError``; ``rag --verbose`` prints the traceback as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from app.errors import DataFolderInUseError

VERBOSE_HINT = "run again with --verbose for the traceback"


@dataclass
class CliError(Exception):
    """A failure the user can act on: what went wrong, and what to do about it."""

    message: str
    hint: str = VERBOSE_HINT
    exit_code: int = 1

    def line(self) -> str:
        return f"error: {self.message} (hint: {self.hint})"


def _url_of(exc: httpx.RequestError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # no request attached
        return "the server"
    return f"{url.scheme}://{url.netloc.decode()}"


def _reason(exc: BaseException) -> str:
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()).rstrip(".") or type(exc).__name__
    return text[0].lower() + text[1:]


def server_error(resp: httpx.Response) -> CliError:
    """The server answered with an error status: its message, and a hint fitting the status."""
    code = message = rid = ""
    try:
        err = resp.json()["error"]
        code, message, rid = str(err.get("code", "")), str(err.get("message", "")), str(err.get("request_id", ""))
    except Exception:
        pass
    where = f"{resp.request.url.scheme}://{resp.request.url.netloc.decode()}"
    status = resp.status_code
    if not message:
        return CliError(
            f"{where} answered HTTP {status} to {resp.request.method} {resp.request.url.path}",
            'check that --url points at this service (GET /healthz answers {"status": "ok"})',
        )
    text = f"the server answered {status}: {message}"
    retry = resp.headers.get("retry-after")
    if status in (401, 403):
        return CliError(text, "pass the key with --api-key KEY or set RAG_API_KEY (create one: rag keys create)")
    if code == "not_ready":
        return CliError(text, "it is still starting; wait until GET /readyz answers 200, then try again")
    if status in (429, 503):
        return CliError(text, f"try again in {retry} s" if retry else "try again shortly")
    if status == 404 and code == "not_found":
        return CliError(text, "check --url: it is the service's base URL, such as http://127.0.0.1:8000")
    if status >= 500:
        return CliError(text, f"the server's log has the details under request id {rid}" if rid else VERBOSE_HINT)
    return CliError(text, "fix the request as the message says")


def describe(exc: BaseException) -> CliError:
    """One line for any exception the ``rag`` command can meet."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, httpx.ConnectError):
        return CliError(
            f"cannot reach {_url_of(exc)} ({_reason(exc)})",
            "start the server with `rag serve`, or point --url (or RAG_URL) at a running one",
        )
    if isinstance(exc, httpx.TimeoutException):
        return CliError(f"{_url_of(exc)} did not answer in time", "it may be busy or still starting; try again")
    if isinstance(exc, httpx.HTTPStatusError):
        return server_error(exc.response)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return CliError(f"bad server URL ({_reason(exc)})", "pass --url like http://127.0.0.1:8000")
    if isinstance(exc, httpx.HTTPError):
        return CliError(f"the connection to the server failed ({_reason(exc)})", "check --url and try again")
    if isinstance(exc, DataFolderInUseError):
        return CliError(
            f"another process (a running server?) is using the data folder {exc.index_dir}",
            "stop it, or ingest through it: rag ingest --url http://127.0.0.1:8000 PATH",
        )
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return CliError(f"invalid settings ({problems})", "check the RAG_* environment variables and .env")
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return CliError(f"{exc.strerror or 'cannot open'}: {exc.filename}", "check the path")
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return CliError(f"{type(exc).__name__}: {message}")
