from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import ServicesDep, TenantDep
from app.schemas import FeedbackRequest, FeedbackResponse, error_responses

router = APIRouter(tags=["feedback"])


@router.post("/feedback", response_model=FeedbackResponse, responses=error_responses(401, 404, 422, 429, 503))
async def feedback(req: FeedbackRequest, services: ServicesDep, tenant: TenantDep) -> FeedbackResponse:
    """Rate an answer; enough votes for a detail level make it the collection's default."""
    outcome = await run_in_threadpool(
        services.feedback.add_feedback,
        tenant,
        req.answer_id,
        req.rating,
        comment=req.comment,
        preferred_detail=req.preferred_detail,
    )
    defaults = outcome.defaults
    return FeedbackResponse(
        recorded=True,
        defaults_changed=outcome.defaults_changed,
        collection_defaults={"detail": defaults.detail, "votes": dict(defaults.votes)},
    )
