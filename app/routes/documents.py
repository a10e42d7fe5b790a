from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep, TenantDep
from app.errors import InvalidRequestError
from app.schemas import (
    DeleteResponse,
    DocumentList,
    DocumentOut,
    IngestedDocument,
    IngestResponse,
    error_responses,
)
from retrieval.types import Document

router = APIRouter(tags=["documents"])

DocumentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


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


@router.post(
    "/ingest",
    response_model=IngestResponse,
    responses=error_responses(401, 413, 415, 422, 429, 503),
)
async def ingest(
    services: ServicesDep,
    tenant: TenantDep,
    files: Annotated[list[UploadFile], File(description="One or more .txt, .md, .html, .pdf or .docx files")],
    collection: Annotated[str | None, Form(max_length=200, pattern=r"^[A-Za-z0-9._-]+$")] = None,
) -> IngestResponse:
    """Store and index documents; answers once they are durable and searchable. Same bytes again are deduplicated."""
    settings = services.settings
    if not files:
        raise InvalidRequestError("send at least one part named 'files'")
    if len(files) > settings.max_files_per_request:
        raise InvalidRequestError(f"at most {settings.max_files_per_request} files per request")
    payload = [(f.filename or "document", await f.read()) for f in files]
    results = await run_in_threadpool(
        services.retrieval.ingest,
        tenant=tenant,
        collection=collection or settings.default_collection,
        files=payload,
    )
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
    collection: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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


@router.delete("/documents/{document_id}", response_model=DeleteResponse, responses=error_responses(401, 404, 429, 503))
async def delete_document(services: ServicesDep, tenant: TenantDep, document_id: DocumentId) -> DeleteResponse:
    """Delete a document and remove its chunks from every index."""
    await run_in_threadpool(services.retrieval.delete_document, tenant, document_id)
    return DeleteResponse(deleted=document_id)
