from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import openapi_examples as ex
from app.container import Services
from app.deps import get_optional_tenant, get_services, get_tenant
from app.schemas import Health, Readiness, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process is up and serving HTTP."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={
        503: {"model": Readiness, "content": {"application/json": {"example": {**ex.READINESS, "ready": False}}}},
        **error_responses(401, 429),
    },
)
def readyz(
    services: Annotated[Services, Depends(get_services)], tenant: Annotated[str | None, Depends(get_optional_tenant)]
) -> JSONResponse:
    """Readiness and queue state (503 until ready); with a key, also the models and your own index figures."""
    body = Readiness.model_validate(services.readiness(tenant))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if body.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(get_tenant)],
    responses={200: {"content": {"text/plain": {"example": ex.METRICS}}}},
)
def metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
    """Prometheus metrics: requests and latency by route, queue depth, batch sizes, tokens/s, ingestion."""
    if services.generator is not None:
        services.metrics.queue_depth.set(services.generator.queue_depth())
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
