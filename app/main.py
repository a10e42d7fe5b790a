"""The FastAPI application: ``uvicorn app.main:app``.

Importing this module builds ``app`` from the settings and nothing else: no folder is created and no model
or index is read until the lifespan starts (``Services.start``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.container import Services
from app.errors import install_error_handlers
from app.metrics import MetricsMiddleware
from app.middleware.body_limit import BodyLimitMiddleware
from app.middleware.request_id import RequestIdMiddleware
from app.middleware.security_headers import SecurityHeadersMiddleware
from app.routes import ask, documents, feedback, health, openai, search, ui
from app.settings import Settings, get_settings
from generation.model import LoadedModel
from grounding import GroundingReader
from retrieval.encoder import Encoder

logger = logging.getLogger("app")
DOCS_URL = "/docs"

DESCRIPTION = """
Answers from **your own documents**, with citations you can check.

1. `POST /ingest` uploads .txt, .md, .html, .pdf and .docx files.
2. `POST /search` returns the top-k passages (dense, BM25 or hybrid).
3. `POST /ask` writes an answer from those passages with a local causal LM, then an adjustment stage
   corrects it, checks every citation against the source text, and abstains when the documents don't say.
4. `/v1/chat/completions`, `/v1/models` and `/v1/embeddings` speak the OpenAI API, so OpenAI clients work as is.

Send `Authorization: Bearer <key>` when the server has API keys configured. Every error has the body
`{"error": {"code", "message", "request_id"}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    load_in_background: bool = True,
    encoder: Encoder | None = None,
    loaded_model: LoadedModel | None = None,
    grounding_reader: GroundingReader | None = None,
) -> FastAPI:
    """Build the app, cheaply and without touching the disk. The data folder, the store and the models are
    opened in the lifespan; pass already-loaded models to share them (tests)."""
    settings = settings or get_settings()
    services = Services(settings, encoder=encoder, loaded_model=loaded_model, grounding_reader=grounding_reader)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A replica whose database is newer than it (or unreachable past the start-up timeout) stops here.
        await asyncio.to_thread(services.prepare_database)
        # /healthz answers while the models load; /readyz turns 200 once they have.
        task = asyncio.create_task(services.start())
        if not load_in_background:
            await task
        else:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        services.keys.open()
        try:
            yield
        finally:
            if not task.done():
                task.cancel()
                with suppress(BaseException):
                    await task
            await services.stop()

    # Swagger UI loads its script and style sheet from the installed fastapi-offline package, not a CDN.
    # No ReDoc: its page fetches its logo from the vendor's CDN.
    app = FastAPIOffline(
        docs_url=DOCS_URL,
        redoc_url=None,
        title="RAG service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # the validator badge would call an outside host
    )
    app.state.services = services
    install_error_handlers(app)
    routers = (health, documents, search, ask, feedback, openai, ui)
    for router in (module.router for module in routers):
        app.include_router(router)
    # Outermost first: ids exist before anything can fail; the body limit runs before any parsing.
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(
        # FastAPIOffline serves /docs itself, so app.docs_url is None: name the page here.
        SecurityHeadersMiddleware,
        docs_paths=(DOCS_URL, app.swagger_ui_oauth2_redirect_url),
    )
    app.add_middleware(RequestIdMiddleware)
    return app


app = create_app()
