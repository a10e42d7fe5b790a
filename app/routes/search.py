from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep, TenantDep
from app.schemas import SearchRequest, SearchResponse, SearchResult, error_responses
from retrieval.types import RetrievalMode

router = APIRouter(tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=error_responses(401, 422, 429, 503))
async def search(req: SearchRequest, services: ServicesDep, tenant: TenantDep) -> SearchResponse:
    """Top-k passages for a query: dense (FAISS), bm25, or hybrid (reciprocal rank fusion)."""
    settings = services.settings
    top_k = req.retrieval_top_k(settings)
    mode = RetrievalMode(req.retrieval_mode or settings.retrieval_mode)
    vector = await services.query_batcher.submit(req.query) if mode is not RetrievalMode.BM25 else None
    hits = await run_in_threadpool(
        services.retrieval.search,
        tenant,
        req.query,
        top_k=top_k,
        collection=req.collection,
        mode=mode,
        query_vector=vector,
    )
    return SearchResponse(
        results=[
            SearchResult(
                document_id=h.chunk.document_id,
                source=h.chunk.source,
                chunk_id=h.chunk.id,
                text=h.chunk.text,
                score=h.score,
                page=h.chunk.page,
                start=h.chunk.start,
                end=h.chunk.end,
            )
            for h in hits
        ]
    )
