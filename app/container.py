"""Builds the service objects once, at start-up, and owns their life cycle."""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from app.ask import AskService
from app.errors import DataFolderInUseError
from app.feedback import FeedbackStore
from app.grounding import GroundingService
from app.ingest_slots import IngestSlots
from app.keys import Authenticator, KeyStorage, KeyStore, PostgresKeyStore
from app.metrics import Metrics
from app.pg_feedback import PostgresFeedbackStore
from app.ratelimit import RateLimiter
from app.settings import Settings
from generation.adjustment.pipeline import AdjustmentConfig, AdjustmentPipeline, build_default_pipeline
from generation.batching import DynamicBatcher
from generation.engine import Generator, LocalGenerator
from generation.model import LoadedModel, load_causal_lm
from grounding import DEFAULT_ARTIFACT_DIR, GroundingReader
from retrieval.backend import SearchBackend
from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import Encoder, SentenceTransformerEncoder
from retrieval.errors import IndexUnavailableError
from retrieval.parsing import ParseLimits
from retrieval.postgres.backend import PostgresBackend
from retrieval.postgres.database import Database
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode

logger = logging.getLogger(__name__)


def adjustment_config(s: Settings) -> AdjustmentConfig:
    return AdjustmentConfig(
        unsupported=s.unsupported_sentences,
        support_threshold=s.support_threshold,
        blocked_terms=tuple(s.blocked_terms),
        blocked_patterns=tuple(s.blocked_patterns),
        redact_pii=s.redact_pii,
        min_relevance=s.min_relevance,
        min_question_coverage=s.min_question_coverage,
        require_key_terms=s.require_key_terms,
        require_stated_negation=s.require_stated_negation,
        require_answer_phrase=s.require_answer_phrase,
        reject_stated_opposite=s.reject_stated_opposite,
        key_terms_near_evidence=s.key_terms_near_evidence,
        verify_threshold=s.verify_threshold,
    )


def build_grounding(s: Settings, reader: GroundingReader | None = None) -> GroundingService | None:
    """The grounding model's service, or None when ``RAG_GROUNDING`` is off. Cheap: ``load()`` reads weights."""
    if not s.grounding:
        return None
    if reader is None:
        artifact = s.grounding_artifact or DEFAULT_ARTIFACT_DIR
        reader = GroundingReader(artifact, device=s.device, precision=s.grounding_precision)
    return GroundingService(
        reader,
        rerank_candidates=s.rerank_candidates,
        retrieval_weight=s.rerank_retrieval_weight,
        max_batch_size=s.max_batch_size,
        max_wait_ms=s.max_batch_wait_ms,
        max_queue=s.max_queue,
    )


def build_generator(s: Settings, metrics: Metrics, loaded: LoadedModel | None = None) -> Generator:
    if s.generator_backend == "openai":
        from generation.remote import RemoteGenerator

        if not s.remote_base_url:
            raise ValueError("RAG_GENERATOR_BACKEND=openai needs RAG_REMOTE_BASE_URL")
        return RemoteGenerator(
            base_url=s.remote_base_url,
            model=s.remote_model,
            api_key=s.remote_api_key,
            timeout_s=s.remote_timeout_s,
            retries=s.remote_retries,
            max_queue=s.max_queue,
        )
    if loaded is None:
        loaded = load_causal_lm(s.generator_model, gguf_file=s.generator_gguf_file, device=s.device)
    return LocalGenerator(
        loaded,
        max_batch_size=s.max_batch_size,
        max_queue=s.max_queue,
        on_batch=metrics.observe_batch,
        engine=s.batch_engine,
    )


@dataclass
class Services:
    """Everything the routes need. Cheap to construct, and touches no file: ``load_store()`` creates the data
    folder, ``load()`` pays for the models."""

    settings: Settings
    # Already-loaded models may be handed in (tests, embedding the service); otherwise load() builds them.
    encoder: Encoder | None = None
    loaded_model: LoadedModel | None = None
    grounding_reader: GroundingReader | None = None
    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = False
    load_error: str | None = None

    def __post_init__(self) -> None:
        s = self.settings
        backend: SearchBackend
        self.database: Database | None = None
        if s.database_url:
            # PostgreSQL holds everything, so this process keeps no state of its own: it can be one of many.
            self.database = Database(s.database_url, max_size=s.database_pool_size)
            backend = PostgresBackend(self.database, wait_s=s.database_start_timeout_s)
            self.keys: KeyStorage = PostgresKeyStore(self.database)
            self.feedback: FeedbackStore | PostgresFeedbackStore = PostgresFeedbackStore(
                self.database, min_votes=s.feedback_min_votes
            )
            key_refresh_s = 0.0  # a key revoked through one replica is refused by every other at once
        else:
            backend = EmbeddedBackend(
                s.index_dir,
                vector_index=s.vector_index,
                ann_threshold=s.ann_threshold,
                save_interval_s=s.index_save_interval_s,
            )
            self.keys = KeyStore(s.store_path)
            self.feedback = FeedbackStore(s.store_path, min_votes=s.feedback_min_votes)
            key_refresh_s = 5.0
        self.auth = Authenticator(s.api_keys, self.keys, refresh_s=key_refresh_s)
        self.rate_limiter = RateLimiter(s.rate_limit)
        self.auth_failures = RateLimiter(s.auth_failure_limit)
        self.ingest_slots = IngestSlots(s.max_ingests_per_tenant, s.max_concurrent_ingests, retry_after_s=5)
        if self.encoder is None:
            self.encoder = SentenceTransformerEncoder(
                s.embedding_model, device=s.device, batch_size=s.embedding_batch_size
            )
        self.retrieval = RetrievalService(
            backend=backend,
            encoder=self.encoder,
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            parse_limits=ParseLimits(
                max_pages=s.max_pages,
                max_chars=s.max_chars,
                pdf_timeout_s=s.pdf_timeout_s,
                max_unzipped_bytes=s.max_unzipped_bytes,
                max_html_elements=s.max_html_elements,
            ),
            max_chunks_per_document=s.max_chunks_per_document,
            rrf_k=s.rrf_k,
            default_mode=RetrievalMode(s.retrieval_mode),
        )
        self.adjuster: AdjustmentPipeline = build_default_pipeline(adjustment_config(s))
        # Query embeddings of concurrent requests share one encoder call.
        self.query_batcher: DynamicBatcher[str, np.ndarray] = DynamicBatcher(
            self._encode_queries,
            max_batch_size=s.max_batch_size,
            max_wait_ms=s.max_batch_wait_ms,
            max_queue=s.max_queue,
            name="query-embeddings",
        )
        self.grounding = build_grounding(s, self.grounding_reader)
        self.generator: Generator | None = None
        self.ask: AskService | None = None
        self._warned_open = False
        self._lock_handle: IO[str] | None = None

    def warn_if_open(self, server: tuple[str, int] | None) -> None:
        """Log once when the service runs without keys on an address other than loopback."""
        if self._warned_open or server is None:
            return
        self._warned_open = True
        host = server[0]
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = host == "localhost"
        if not local:
            logger.warning(
                "no API keys are configured and the service is bound to %s: anyone who can reach it can "
                "read and change tenant %r. Set RAG_API_KEYS or run `python -m app keys create --tenant NAME`.",
                host,
                self.settings.default_tenant,
            )

    def _encode_queries(self, queries: list[str]) -> list[np.ndarray]:
        return list(self.retrieval.encode_queries(queries))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        assert self.encoder is not None
        return self.encoder.encode(list(texts))

    def _take_writer_lock(self) -> None:
        """One process owns a data folder: a second server (or a direct `ingest`) fails clearly instead of
        silently forking the index. The kernel drops the lock when the process dies, even on SIGKILL.
        With PostgreSQL there is no folder to own: every replica and `ingest` may write at once."""
        if self.database is not None:
            return
        path = self.settings.index_dir / "writer.lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise DataFolderInUseError(self.settings.index_dir) from exc
        self._lock_handle = handle

    def release_writer_lock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def prepare_database(self) -> None:
        """Blocking: wait for PostgreSQL and migrate it (nothing to do for the embedded store).

        Raises ``SchemaVersionError`` when the database is newer than this build: the replica must not start.
        """
        if self.database is not None:
            self.database.open(wait_s=self.settings.database_start_timeout_s)

    def load_store(self) -> None:
        """Blocking: the store and indexes only (what direct ingestion needs)."""
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        self._take_writer_lock()
        self.retrieval.load()

    def load(self) -> None:
        """Blocking: loads the store, indexes and models. Run in a thread."""
        self.load_store()
        self.keys.open()
        self.feedback.open()
        if self.grounding is not None and not self.grounding.reader.loaded:
            self.grounding.load()
        self.generator = build_generator(self.settings, self.metrics, self.loaded_model)
        self.ask = AskService(
            settings=self.settings,
            retrieval=self.retrieval,
            generator=self.generator,
            adjuster=self.adjuster,
            feedback=self.feedback,
            embed_query=self.query_batcher.submit,
            embed_texts=self.embed_texts,
            grounding=self.grounding,
        )

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.load)
            await self.query_batcher.start()
            if self.grounding is not None:
                await self.grounding.start()
            assert self.generator is not None
            await self.generator.start()
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.exception("start-up failed")
            raise
        self.ready = True
        logger.info("ready: %s", self.index_status()[1])

    async def stop(self) -> None:
        self.ready = False
        if self.generator is not None:
            await self.generator.stop()
        await self.query_batcher.stop()
        self.ingest_slots.close()
        if self.grounding is not None:
            await self.grounding.stop()
        await asyncio.to_thread(self.retrieval.close)
        self.feedback.close()
        self.keys.close()
        self.release_writer_lock()

    def index_status(self) -> tuple[bool, dict[str, Any]]:
        """(storage answers, what /readyz shows about it): a database outage makes the replica unready."""
        if not self.retrieval.ready:
            return False, {"loaded": False}
        try:
            return True, self.retrieval.stats()
        except IndexUnavailableError as exc:
            return False, {"loaded": True, "error": exc.message}

    def readiness(self, tenant: str | None) -> dict[str, Any]:
        """Readiness and queue state; models and index figures only for a known caller, and only its own."""
        storage_ok, index = self.index_status()
        depth = self.generator.queue_depth() if self.generator else 0
        capacity = self.generator.max_queue if self.generator else self.settings.max_queue
        body: dict[str, Any] = {
            "ready": self.ready and storage_ok,
            "queue": {
                "depth": depth,
                "capacity": capacity,
                "saturation": round(depth / capacity, 4) if capacity else 0.0,
                "query_embeddings_depth": self.query_batcher.depth(),
                "ingests_in_progress": self.ingest_slots.in_use(),
            },
        }
        if tenant is None:
            return body
        body["models"] = {
            "embedding": self.settings.embedding_model,
            "generator": getattr(self.generator, "model_name", self.settings.generator_model),
            "grounding": self.grounding is not None,
            "loaded": self.ready,
            "error": self.load_error,
        }
        body["index"] = _tenant_index(tenant, index)
        return body


def _tenant_index(tenant: str, stats: dict[str, Any]) -> dict[str, Any]:
    """One tenant's own index figures out of ``Services.index_status``; never another tenant's."""
    if "tenants" not in stats:  # not loaded, or storage is down: only that, no figures
        return stats
    own = stats["tenants"].get(tenant, {"documents": 0, "chunks": 0, "vectors": 0, "index_kind": None})
    return {
        "loaded": True,
        "tenant": tenant,
        **own,
        "backend": stats["backend"],
        "embedding_model": stats["embedding_model"],
        "embedding_dimension": stats["embedding_dimension"],
    }
