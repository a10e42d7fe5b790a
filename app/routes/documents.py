from __future__ import annotations

import asyncio
import functools
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from app.container import Services
from app.deps import ServicesDep, TenantDep
from app.errors import InvalidRequestError
from app.schemas import (
    MAX_OFFSET,
    CollectionName,
    DeleteResponse,
    DocumentList,
    DocumentOut,
    DocumentText,
    IngestedDocument,
    IngestResponse,
    error_responses,
)
from retrieval.budget import WorkBudget
from retrieval.errors import IngestCancelledError, IngestTimeoutError
from retrieval.types import Document, IngestResult

router = APIRouter(tags=["documents"])

DocumentId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The document's id, as /ingest and /documents return it",
        examples=["3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e"],
    ),
]


def text_range(characters: int, start: int, end: int | None, limit: int) -> tuple[int, int]:
    """The [start, end) slice to return of a text ``characters`` long; an end past the text is clamped."""
    if start > characters:
        raise InvalidRequestError(f"start {start} is past the end of the document ({characters} characters)")
    if end is None:
        return start, min(characters, start + limit)
    if end < start:
        raise InvalidRequestError(f"end {end} is before start {start}")
    end = min(end, characters)
    if end - start > limit:
        raise InvalidRequestError(
            f"the range {start}-{end} has {end - start} characters; at most {limit} come in one response, "
            "so ask for a smaller range"
        )
    return start, end


def document_out(doc: Document) -> dict[str, object]:
    return {
        "id": doc.id,
        "source": doc.source,
        "collection": doc.collection,
        "sha256": doc.sha256,
        "chunks": doc.chunk_count,
        "characters": doc.char_count,
        "metadata": doc.metadata,
        "created_at": doc.created_at,
    }


# Seconds between checks that the uploading client is still connected.
_DISCONNECT_POLL_S = 0.5


async def _cancel_when_gone(request: Request, budget: WorkBudget) -> None:
    while not budget.cancelled:
        if await request.is_disconnected():
            budget.cancel()
            return
        await asyncio.sleep(_DISCONNECT_POLL_S)


async def _ingest_bounded(
    request: Request, services: Services, tenant: str, collection: str, payload: list[tuple[str, bytes]]
) -> list[IngestResult]:
    """Run the ingest on the low-priority ingest threads, within its time budget, stopping if the client leaves."""
    budget = WorkBudget(services.settings.ingest_timeout_s)
    if await request.is_disconnected():
        budget.cancel()
    call = functools.partial(
        services.retrieval.ingest, tenant=tenant, collection=collection, files=payload, budget=budget
    )
    work = asyncio.get_running_loop().run_in_executor(services.ingest_slots.executor, call)
    watcher = asyncio.create_task(_cancel_when_gone(request, budget))
    try:
        return await work
    except IngestTimeoutError:
        services.metrics.ingests_stopped.labels("timeout").inc()
        raise
    except IngestCancelledError:
        services.metrics.ingests_stopped.labels("cancelled").inc()
        raise
    finally:
        watcher.cancel()
        if not work.done():  # this request was cancelled: stop the work too
            budget.cancel()


@router.post(
    "/ingest",
    response_model=IngestResponse,
    responses=error_responses(400, 401, 413, 415, 422, 429, 499, 503),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "example": {"files": ["handbook.pdf", "faq.md"], "collection": "policies"},
                }
            }
        }
    },
)
async def ingest(
    request: Request,
    services: ServicesDep,
    tenant: TenantDep,
    files: Annotated[list[UploadFile], File(description="One or more .txt, .md, .html, .pdf or .docx files")],
    collection: Annotated[
        CollectionName | None,
        Form(
            description="Collection to store them in; omitted: the server's RAG_DEFAULT_COLLECTION",
            examples=["policies"],
        ),
    ] = None,
) -> IngestResponse:
    """Store and index documents, all or nothing: one refused file stores none, and the error names it.

    Answers once the documents are durable and searchable. The same bytes again are deduplicated.
    """
    settings = services.settings
    if not files:
        raise InvalidRequestError("send at least one part named 'files'")
    if len(files) > settings.max_files_per_request:
        raise InvalidRequestError(f"at most {settings.max_files_per_request} files per request")
    with services.ingest_slots.slot(tenant):
        payload = [(f.filename or "document", await f.read()) for f in files]
        results = await _ingest_bounded(request, services, tenant, collection or settings.default_collection, payload)
    for r in results:
        if not r.deduplicated:
            services.metrics.documents_ingested.inc()
            services.metrics.chunks_ingested.inc(r.document.chunk_count)
    return IngestResponse(
        documents=[
            IngestedDocument.model_validate({**document_out(r.document), "deduplicated": r.deduplicated})
            for r in results
        ]
    )


@router.get("/documents", response_model=DocumentList, responses=error_responses(401, 422, 429, 503))
async def list_documents(
    services: ServicesDep,
    tenant: TenantDep,
    collection: Annotated[
        CollectionName | None,
        Query(description="Only this collection; omitted: every collection", examples=["policies"]),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Documents per page", examples=[50])] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Documents to skip (for the next page)", examples=[0])
    ] = 0,
) -> DocumentList:
    """List your documents, newest first, a page at a time."""
    docs, total = await run_in_threadpool(
        services.retrieval.list_documents, tenant, collection=collection, limit=limit, offset=offset
    )
    return DocumentList.model_validate(
        {"documents": [document_out(d) for d in docs], "total": total, "limit": limit, "offset": offset}
    )


@router.get("/documents/{document_id}", response_model=DocumentOut, responses=error_responses(401, 404, 429, 503))
async def get_document(services: ServicesDep, tenant: TenantDep, document_id: DocumentId) -> DocumentOut:
    """One document's metadata."""
    doc = await run_in_threadpool(services.retrieval.get_document, tenant, document_id)
    return DocumentOut.model_validate(document_out(doc))


@router.get(
    "/documents/{document_id}/text", response_model=DocumentText, responses=error_responses(401, 404, 422, 429, 503)
)
async def get_document_text(
    services: ServicesDep,
    tenant: TenantDep,
    document_id: DocumentId,
    start: Annotated[
        int, Query(ge=0, description="Offset of the first character (a citation's `start`)", examples=[0])
    ] = 0,
    end: Annotated[
        int | None,
        Query(
            ge=0,
            description="Offset just past the last character (a citation's `end`); omitted: as far as the size "
            "limit allows. An end past the text stops at the text's end.",
            examples=[500],
        ),
    ] = None,
) -> DocumentText:
    """A document's extracted text, whole or a range: the text that citations' start and end offsets point into."""
    doc = await run_in_threadpool(services.retrieval.get_document, tenant, document_id)
    text = await run_in_threadpool(services.retrieval.get_document_text, tenant, document_id)
    first, last = text_range(len(text), start, end, services.settings.max_text_chars)
    return DocumentText(
        document_id=doc.id, source=doc.source, start=first, end=last, characters=len(text), text=text[first:last]
    )


@router.delete("/documents/{document_id}", response_model=DeleteResponse, responses=error_responses(401, 404, 429, 503))
async def delete_document(services: ServicesDep, tenant: TenantDep, document_id: DocumentId) -> DeleteResponse:
    """Delete a document and remove its chunks from every index."""
    await run_in_threadpool(services.retrieval.delete_document, tenant, document_id)
    return DeleteResponse(deleted=document_id)
