"""Server-sent events, framed by sse-starlette: the one place the service writes an event stream.

``event_stream`` turns an async iterator of events into the response: sse-starlette frames each event,
sends a keep-alive comment while nothing else is sent, and cancels the iterator when the client goes
away (which cancels the answer it is waiting for, freeing its batch slot). An error raised once the
200 status line has gone out is sent in-band, as the error body with its status inside.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent

from app.errors import in_band_error

SEP = "\n"  # what the page's parser and the tests split on; any of \r\n, \r, \n is valid SSE


def json_event(data: Any, event: str | None = None) -> ServerSentEvent:
    """``event: <event>`` (when given) and one ``data:`` line of compact JSON."""
    return JSONServerSentEvent(data, event=event, sep=SEP)


def text_event(data: str) -> ServerSentEvent:
    return ServerSentEvent(data, sep=SEP)


def comment(text: str) -> ServerSentEvent:
    """A ``: text`` line, which SSE clients skip: progress for a protocol with no event of its own for it."""
    return ServerSentEvent(comment=text, sep=SEP)


def event_stream(
    request: Request, events: AsyncIterator[ServerSentEvent], error_event: str | None = None
) -> EventSourceResponse:
    """The response for ``events``; a failure arrives as ``json_event(<error body>, error_event)``."""

    async def guarded() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in events:
                yield event
        except Exception as exc:  # in-band: the 200 status line has already gone out
            yield json_event(in_band_error(request, exc), error_event)

    return EventSourceResponse(guarded(), sep=SEP, headers={"Cache-Control": "no-cache"})
