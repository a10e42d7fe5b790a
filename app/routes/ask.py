"""``POST /ask``: the answer as one JSON body, or (``stream``) as server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sse_starlette import ServerSentEvent

from app.ask import AskPlan, AskService, Progress
from app.deps import AskServiceDep, TenantDep
from app.schemas import AskRequest, AskResponse, error_responses
from app.sse import event_stream, json_event
from generation.errors import RequestCancelledError

router = APIRouter(tags=["ask"])

T = TypeVar("T")

_STREAM_DOC = {
    "description": 'With `stream: true`: server-sent events. `event: status` carries `{"stage"}` as each '
    'stage begins (`retrieving`, `generating`, `checking`); then `event: token` carries `{"delta"}`, the '
    "adjusted answer's text (the deltas joined are exactly `answer`, never the model's unchecked draft); "
    "then `event: final` carries the AskResponse body. A failure arrives as `event: error` with the error body.",
    "content": {
        "text/event-stream": {
            "example": 'event: status\ndata: {"stage":"retrieving"}\n\n'
            'event: status\ndata: {"stage":"generating"}\n\n'
            'event: status\ndata: {"stage":"checking"}\n\n'
            'event: token\ndata: {"delta":"Paris [1]"}\n\n'
            'event: final\ndata: {"answer":"Paris [1]", "...": "..."}\n\n'
        }
    },
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
    return event_stream(request, _events(service, plan), error_event="error")


async def _events(service: AskService, plan: AskPlan) -> AsyncIterator[ServerSentEvent]:
    async for item in service.ask_stream(plan):
        if isinstance(item, Progress):
            yield json_event({"stage": item.stage}, "status")
        else:
            if item.answer:
                yield json_event({"delta": item.answer}, "token")
            yield json_event(item.model_dump(mode="json"), "final")
