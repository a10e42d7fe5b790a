"""The web page: ``/`` serves index.html, ``/static/<name>`` its script and style sheet.

Static files go through a route rather than a ``StaticFiles`` mount so that ``app.include_router(router)``
is all it takes (FastAPI's ``include_router`` drops mounts). Only files that exist in ``app/static`` at start-up
are served, so no path from the request ever reaches the file system.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Security headers (CSP, nosniff, referrer policy) come from SecurityHeadersMiddleware, on every response.
_PAGE_HEADERS = {"Cache-Control": "no-cache"}

_MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

router = APIRouter(include_in_schema=False)


def _static_files() -> dict[str, Path]:
    if not STATIC_DIR.is_dir():
        return {}
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in _MEDIA_TYPES}


_FILES = _static_files()


@router.get("/")
def index() -> FileResponse:
    """The web page: upload documents, browse them, ask questions and check the citations."""
    page = _FILES.get("index.html")
    if page is None:
        raise HTTPException(404, "the web page is not installed")
    return FileResponse(page, media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The page's script and style sheet."""
    path = _FILES.get(name)
    if path is None:
        raise HTTPException(404, f"no static file named {name!r}")
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES[path.suffix],
        headers=_PAGE_HEADERS,
    )
