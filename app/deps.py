"""FastAPI dependencies: the services built at start-up, and the caller's tenant."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from app.ask import AskService
from app.container import Services
from app.errors import AuthenticationError, NotReadyError, RateLimitedError
from retrieval.errors import StorageUnavailableError

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


def _authenticate(request: Request, services: Services) -> tuple[str, str]:
    """(tenant, rate-limit identity) of the caller; the tenant comes from the API key alone."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    client = request.client.host if request.client else "unknown"
    if not services.auth.enabled:
        services.warn_if_open(request.scope.get("server"))
        return services.settings.default_tenant, "ip:" + client
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    try:
        # Checked before the key, so an address that guesses too often learns nothing more.
        services.auth_failures.check_not_exceeded(
            client, "too many wrong API keys from your address; retry in {wait} s"
        )
    except RateLimitedError:
        services.metrics.auth_blocked.inc()
        raise
    tenant = services.auth.tenant_for(key.strip())
    if tenant is None:
        services.metrics.auth_failures.inc()
        services.auth_failures.count(client)
        raise AuthenticationError("invalid API key")
    return tenant, "key:" + key.strip()


def get_tenant(request: Request, services: Annotated[Services, Depends(get_services)]) -> str:
    """The caller's tenant, counted against the request rate limit."""
    tenant, identity = _authenticate(request, services)
    services.rate_limiter.check(identity)
    return tenant


def get_optional_tenant(request: Request, services: Annotated[Services, Depends(get_services)]) -> str | None:
    """The caller's tenant when a key is sent (or the service runs open), None without one; not rate limited,
    so health checks never see 429. When the key store itself is down (PostgreSQL), the caller gets the
    keyless view, so /readyz still answers its 503 body rather than an error."""
    try:
        if services.auth.enabled and "authorization" not in request.headers:
            return None
        return _authenticate(request, services)[0]
    except StorageUnavailableError:
        return None


TenantDep = Annotated[str, Depends(get_tenant)]


def get_ask_service(services: ServicesDep) -> AskService:
    assert services.ask is not None
    return services.ask


AskServiceDep = Annotated[AskService, Depends(get_ask_service)]
