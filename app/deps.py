"""FastAPI dependencies: the services built at start-up, and the caller's tenant."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from app.ask import AskService
from app.container import Services
from app.errors import AuthenticationError, NotReadyError

logger = logging.getLogger(__name__)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_ready_services(services: Annotated[Services, Depends(get_services)]) -> Services:
    if not services.ready:
        raise NotReadyError(
            "the service is still loading its models and indexes"
            if services.load_error is None
            else f"the service failed to start: {services.load_error}"
        )
    return services


ServicesDep = Annotated[Services, Depends(get_ready_services)]


def get_tenant(request: Request, services: Annotated[Services, Depends(get_services)]) -> str:
    """The tenant comes from the API key alone, never from the request body."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if services.auth.enabled:
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
        tenant = services.auth.tenant_for(key.strip())
        if tenant is None:
            raise AuthenticationError("invalid API key")
        services.rate_limiter.check("key:" + key.strip())
        return tenant
    services.warn_if_open(request.scope.get("server"))
    client = request.client.host if request.client else "unknown"
    services.rate_limiter.check("ip:" + client)
    return services.settings.default_tenant


TenantDep = Annotated[str, Depends(get_tenant)]


def get_ask_service(services: ServicesDep) -> AskService:
    assert services.ask is not None
    return services.ask


AskServiceDep = Annotated[AskService, Depends(get_ask_service)]
