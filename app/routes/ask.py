from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.deps import AskServiceDep, TenantDep
from app.errors import in_band_error
from app.schemas import AskRequest, AskResponse, error_responses
from generation.errors import RequestCancelledError

router = APIRouter(tags=["ask"])

T = TypeVar("T")

_STREAM_DOC = {
    "description": 'With `stream: true`: server-sent events. `event: token` carries `{"delta"}` as the '
    "model writes; `event: final` carries the adjusted answer (the AskResponse body); `event: error` "
    "carries the error body.",
    "content": {"text/event-stream": {"example": 'event: token\ndata: {"delta": "Paris"}\n\n'}},
}


async def until_disconnected(request: Request, work: Awaitable[T], poll_s: float = 0.25) -> T:
    """Run ``work`` but cancel it (freeing its batch slot) if the client goes away first."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                raise RequestCancelledError("client disconnected")
    finally:
        if not task.done():
            task.cancel()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={**error_responses(401, 422, 429, 503, 504), 200: _STREAM_DOC},
)
async def ask(req: AskRequest, request: Request, service: AskServiceDep, tenant: TenantDep) -> Any:
    """Answer a question from your documents, with checked citations (set `stream` for server-sent events)."""
    plan = service.plan(tenant, req)
    if not req.stream:
        return await until_disconnected(request, service.ask(plan))

    async def events() -> AsyncIterator[bytes]:
        # Starlette cancels this generator when the client disconnects, which cancels the generation.
        try:
            async for event, data in service.ask_stream(plan):
                yield _sse(event, data)
        except Exception as exc:  # reported in-band: the 200 status line has already gone out
            yield _sse("error", in_band_error(request, exc))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
