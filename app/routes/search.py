from __future__ import annotations

from fastapi import APIRouter

from app.deps import AskServiceDep, ServicesDep, TenantDep
from app.schemas import SearchRequest, SearchResponse, SearchResult, error_responses
from retrieval.types import RetrievalMode

router = APIRouter(tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=error_responses(401, 422, 429, 503))
async def search(req: SearchRequest, services: ServicesDep, ask: AskServiceDep, tenant: TenantDep) -> SearchResponse:
    """Top-k passages for a query: dense (FAISS), bm25 or hybrid (reciprocal rank fusion), then reranked."""
    settings = services.settings
    top_k = req.retrieval_top_k(settings)
    mode = RetrievalMode(req.retrieval_mode or settings.retrieval_mode)
    hits = await ask.search(
        tenant,
        req.query,
        top_k=top_k,
        collection=req.collection,
        mode=mode,
        rerank=settings.rerank if req.rerank is None else req.rerank,
    )
    return SearchResponse(
        results=[
            SearchResult(
                document_id=h.chunk.document_id,
                source=h.chunk.source,
                chunk_id=h.chunk.id,
                text=h.chunk.text,
                score=h.score,
                rerank_score=h.rerank_score,
                page=h.chunk.page,
                start=h.chunk.start,
                end=h.chunk.end,
            )
            for h in hits
        ]
    )
