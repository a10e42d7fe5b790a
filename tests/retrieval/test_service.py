"""RetrievalService end to end with the real encoder: ingest, search, delete, tenancy, restarts, recovery."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.backend import SearchBackend
from retrieval.embedded import EmbeddedBackend
from retrieval.encoder import SentenceTransformerEncoder
from retrieval.errors import (
    DocumentNotFoundError,
    DocumentTooLargeError,
    IndexUnavailableError,
    RetrievalError,
)
from retrieval.postgres.backend import PostgresBackend
from retrieval.postgres.database import Database
from retrieval.service import RetrievalService
from retrieval.types import RetrievalMode, SearchHit

MODES = list(RetrievalMode)

DOCS: dict[str, str] = {
    "volcano.txt": (
        "Volcanoes erupt when molten magma rises through the crust and reaches the surface. "
        "Pressure from dissolved gases drives explosive eruptions, and lava flows spread from the vent. "
        "Mount Etna in Sicily is one of the most active volcanoes in Europe."
    ),
    "bread.txt": (
        "Sourdough bread is leavened with a starter of wild yeast and lactic acid bacteria. "
        "Bakers feed the starter with flour and water, then proof the dough slowly before baking "
        "it in a very hot oven to get a crisp crust."
    ),
    "chess.txt": (
        "In chess, castling moves the king two squares towards a rook, and the rook jumps over the king. "
        "Castling is not allowed when the king is in check. Openings such as the Sicilian Defence "
        "fight for the centre of the board."
    ),
    "photosynthesis.txt": (
        "Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose and oxygen. "
        "Chlorophyll in the chloroplasts absorbs light energy that drives the reaction."
    ),
    "rust.txt": (
        "The Rust programming language guarantees memory safety through ownership and borrowing. "
        "The borrow checker rejects programs with data races at compile time."
    ),
}

QUERIES = {
    "volcano.txt": "why do volcanoes erupt magma",
    "bread.txt": "how to bake sourdough bread with a starter",
    "chess.txt": "chess castling rules king rook",
    "photosynthesis.txt": "how plants make glucose from sunlight photosynthesis",
    "rust.txt": "Rust borrow checker memory safety",
}

Factory = Callable[..., RetrievalService]

BACKENDS = ["embedded", "postgres"]


def _factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path, encoder: Any) -> Iterator[Factory]:
    """Services over one back end; every one made in a test shares its storage, as a restart would."""
    made: list[RetrievalService] = []

    def make(
        data_dir: Path | None = None,
        *,
        vector_index: str = "auto",
        ann_threshold: int = 100_000,
        save_interval_s: float = 0.0,
        **kwargs: Any,
    ) -> RetrievalService:
        kwargs.setdefault("encoder", encoder)
        backend: SearchBackend
        if kind == "postgres":
            backend = PostgresBackend(Database(request.getfixturevalue("postgres_url")), wait_s=5.0)
        else:
            backend = EmbeddedBackend(
                data_dir or tmp_path / "data",
                vector_index=vector_index,
                ann_threshold=ann_threshold,
                save_interval_s=save_interval_s,
            )
        svc = RetrievalService(backend=backend, **kwargs)
        svc.load()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


@pytest.fixture(params=BACKENDS)
def make_service(
    request: pytest.FixtureRequest, tmp_path: Path, encoder: SentenceTransformerEncoder
) -> Iterator[Factory]:
    """The integration suite runs on both back ends."""
    yield from _factory(request.param, request, tmp_path, encoder)


@pytest.fixture
def make_embedded(
    request: pytest.FixtureRequest, tmp_path: Path, encoder: SentenceTransformerEncoder
) -> Iterator[Factory]:
    """For what only the embedded back end has: snapshot files, quarantine, FAISS kinds."""
    yield from _factory("embedded", request, tmp_path, encoder)


def _files(names: list[str] | None = None) -> list[tuple[str, bytes]]:
    return [(n, DOCS[n].encode()) for n in names or list(DOCS)]


def _ingest(svc: RetrievalService, tenant: str = "acme", collection: str = "main") -> dict[str, str]:
    """Ingest every DOC; returns {filename: document id}."""
    results = svc.ingest(tenant=tenant, collection=collection, files=_files())
    return {r.document.source: r.document.id for r in results}


def _key(hits: list[SearchHit]) -> list[tuple[int, float]]:
    return [(h.chunk.id, round(h.score, 4)) for h in hits]


def _all_results(svc: RetrievalService, tenant: str = "acme") -> dict[tuple[str, str], list[tuple[int, float]]]:
    return {(q, m.value): _key(svc.search(tenant, q, top_k=3, mode=m)) for q in QUERIES.values() for m in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_ranks_the_obvious_document_first(make_service: Factory, mode: RetrievalMode) -> None:
    svc = make_service()
    ids = _ingest(svc)
    for name, query in QUERIES.items():
        hits = svc.search("acme", query, top_k=3, mode=mode)
        assert hits, (mode, query)
        assert hits[0].chunk.document_id == ids[name], (mode, query, hits[0].chunk.source)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(h.chunk.tenant == "acme" for h in hits)


def test_ingest_result_and_document_lookups(make_service: Factory) -> None:
    svc = make_service()
    (res,) = svc.ingest(tenant="acme", collection="main", files=_files(["bread.txt"]), metadata={"lang": "en"})
    doc = res.document
    assert not res.deduplicated
    assert len(doc.id) == 32 and int(doc.id, 16) >= 0  # uuid4 hex
    assert doc.source == "bread.txt" and doc.chunk_count >= 1 and doc.metadata["lang"] == "en"
    assert svc.get_document("acme", doc.id) == doc
    text = svc.get_document_text("acme", doc.id)
    assert "Sourdough" in text and doc.char_count == len(text)
    hit = svc.search("acme", "sourdough", top_k=1, mode=RetrievalMode.BM25)[0]
    assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    page, total = svc.list_documents("acme")
    assert total == 1 and page == [doc]


def test_restart_gives_identical_results(make_service: Factory, tmp_path: Path) -> None:
    svc = make_service()
    _ingest(svc)
    before = _all_results(svc)
    svc.close()
    if isinstance(svc.backend, EmbeddedBackend):
        assert sorted(p.suffix for p in (tmp_path / "data" / "vectors").iterdir()) == [".faiss", ".json"]
    again = make_service()
    assert again.ready
    assert _all_results(again) == before
    assert again.stats()["chunks"] == len(DOCS)  # every DOC is short enough to be one chunk


def test_same_bytes_are_deduplicated(make_service: Factory) -> None:
    svc = make_service()
    first = svc.ingest(tenant="acme", collection="main", files=_files(["chess.txt"]))[0]
    chunks = svc.stats()["chunks"]
    again = svc.ingest(tenant="acme", collection="main", files=_files(["chess.txt", "chess.txt"]))
    assert [r.deduplicated for r in again] == [True, True]
    assert all(r.document.id == first.document.id for r in again)
    assert svc.stats()["chunks"] == chunks
    # In one request, the second copy of new bytes is a duplicate of the first.
    both = svc.ingest(tenant="acme", collection="main", files=_files(["rust.txt", "rust.txt"]))
    assert [r.deduplicated for r in both] == [False, True]
    assert both[0].document.id == both[1].document.id
    # Other collections and tenants store their own copy.
    other = svc.ingest(tenant="acme", collection="other", files=_files(["chess.txt"]))[0]
    assert not other.deduplicated and other.document.id != first.document.id


def test_deleted_document_is_never_returned_again(make_service: Factory) -> None:
    svc = make_service()
    ids = _ingest(svc)
    gone = ids["volcano.txt"]
    svc.delete_document("acme", gone)

    def check(s: RetrievalService) -> None:
        for mode in MODES:
            for query in [*QUERIES.values(), "volcano lava Etna eruption"]:
                hits = s.search("acme", query, top_k=10, mode=mode)
                assert all(h.chunk.document_id != gone for h in hits), (mode, query)
        with pytest.raises(DocumentNotFoundError):
            s.get_document("acme", gone)
        assert s.list_documents("acme")[1] == len(DOCS) - 1

    check(svc)
    with pytest.raises(DocumentNotFoundError):
        svc.delete_document("acme", gone)
    svc.close()
    check(make_service())


def test_tenants_are_isolated(make_service: Factory) -> None:
    svc = make_service()
    a_ids = _ingest(svc, tenant="a")
    svc.ingest(tenant="b", collection="main", files=_files(["rust.txt"]))
    for mode in MODES:
        for query in QUERIES.values():
            for hit in svc.search("b", query, top_k=10, mode=mode):
                assert hit.chunk.tenant == "b" and hit.chunk.document_id not in a_ids.values()
        assert svc.search("nobody", "volcano", top_k=5, mode=mode) == []
    for doc_id in a_ids.values():
        with pytest.raises(DocumentNotFoundError):
            svc.get_document("b", doc_id)
        with pytest.raises(DocumentNotFoundError):
            svc.get_document_text("b", doc_id)
        with pytest.raises(DocumentNotFoundError):
            svc.delete_document("b", doc_id)
    assert svc.get_document("a", a_ids["rust.txt"]).tenant == "a"  # still there
    # The same bytes in two tenants are two documents.
    assert svc.list_documents("b")[1] == 1
    stats = svc.stats()
    assert stats["tenants"]["a"]["documents"] == len(DOCS) and stats["tenants"]["b"]["documents"] == 1


def test_collection_filter_returns_k_results_from_that_collection(make_service: Factory) -> None:
    svc = make_service(chunk_tokens=24, chunk_overlap=4)
    # "geo" holds many chunks about volcanoes; "food" a few about bread that also mention heat.
    geo = " ".join(DOCS["volcano.txt"] for _ in range(6))
    food = " ".join([DOCS["bread.txt"], "The oven is as hot as lava, says the baker, and the crust erupts."] * 3)
    svc.ingest(tenant="acme", collection="geo", files=[("geo.txt", geo.encode())])
    svc.ingest(tenant="acme", collection="food", files=[("food.txt", food.encode())])
    n_food = svc.list_documents("acme", collection="food")[0][0].chunk_count
    assert n_food >= 5
    for mode in MODES:
        hits = svc.search("acme", "volcanoes magma lava erupt hot crust", top_k=5, mode=mode, collection="food")
        assert len(hits) == 5, mode
        assert all(h.chunk.collection == "food" for h in hits)
        unfiltered = svc.search("acme", "volcanoes magma lava erupt hot crust", top_k=5, mode=mode)
        assert any(h.chunk.collection == "geo" for h in unfiltered), mode
    assert svc.search("acme", "volcano", top_k=5, collection="nope") == []


def test_corrupted_index_file_is_quarantined_and_rebuilt(
    make_embedded: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = make_embedded()
    _ingest(svc)
    before = _all_results(svc)
    svc.close()
    (index_path,) = (tmp_path / "data" / "vectors").glob("*.faiss")
    index_path.write_bytes(b"\x00garbage" * 100)
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        again = make_embedded()
    assert "unreadable" in caplog.text
    quarantined = list((tmp_path / "data" / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == b"\x00garbage" * 100
    assert _all_results(again) == before
    assert again.list_documents("acme")[1] == len(DOCS)


def test_manifest_of_another_model_triggers_a_rebuild(
    make_embedded: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = make_embedded()
    _ingest(svc)
    before = _all_results(svc)
    svc.close()
    (manifest_path,) = (tmp_path / "data" / "vectors").glob("*.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["embedding_model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        again = make_embedded()
    assert "some-other-model" in caplog.text and "rebuilding" in caplog.text
    assert _all_results(again) == before
    again.close()
    assert json.loads(manifest_path.read_text())["embedding_model"] == again.encoder.model_name


def test_index_missing_chunks_is_rebuilt(
    make_embedded: Factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = make_embedded()
    _ingest(svc)
    svc.close()
    snapshot = {p.name: p.read_bytes() for p in (tmp_path / "data" / "vectors").iterdir()}
    # Ingest more, then put the old snapshot back: as if we crashed before the next snapshot.
    svc2 = make_embedded()
    svc2.ingest(tenant="acme", collection="main", files=[("extra.txt", b"Penguins live in Antarctica and eat krill.")])
    svc2.close()
    for name, data in snapshot.items():
        (tmp_path / "data" / "vectors" / name).write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        again = make_embedded()
    assert "rebuilding" in caplog.text
    hits = again.search("acme", "penguins krill Antarctica", top_k=1, mode=RetrievalMode.DENSE)
    assert hits and hits[0].chunk.source == "extra.txt"


class _RenamedEncoder:
    """The real encoder under another model name: lets a test change "the model" without a second download."""

    def __init__(self, inner: SentenceTransformerEncoder, name: str) -> None:
        self.inner = inner
        self.model_name = name
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    @property
    def tokenizer(self) -> Any:
        return self.inner.tokenizer

    def load(self) -> None:
        self.inner.load()

    def encode(self, texts: Any, *, batch_size: int | None = None) -> np.ndarray:
        self.calls += len(texts)
        return self.inner.encode(texts, batch_size=batch_size)


def test_changed_embedding_model_reencodes_everything(
    make_embedded: Factory, encoder: SentenceTransformerEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    svc = make_embedded()
    _ingest(svc)
    before = _all_results(svc)
    svc.close()
    renamed = _RenamedEncoder(encoder, "renamed-minilm")
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        again = make_embedded(encoder=renamed)
    assert "re-encoding" in caplog.text
    assert renamed.calls == len(DOCS)  # one chunk per short document
    assert again.backend.store.get_meta("embedding_model") == "renamed-minilm"
    assert _all_results(again) == before  # same weights, so the same answers


def test_a_bad_file_in_a_batch_stores_nothing(make_service: Factory) -> None:
    svc = make_service()
    bad_batches = [
        [*_files(["bread.txt"]), ("empty.txt", b"   \n  ")],
        [*_files(["bread.txt"]), ("program.exe", b"MZ\x90\x00binary")],
    ]
    for batch in bad_batches:
        with pytest.raises(RetrievalError):
            svc.ingest(tenant="acme", collection="main", files=batch)
    assert svc.list_documents("acme")[1] == 0
    assert svc.stats()["chunks"] == 0
    for mode in MODES:
        assert svc.search("acme", "sourdough bread", top_k=3, mode=mode) == []


def test_too_many_chunks_is_refused(make_service: Factory) -> None:
    svc = make_service(chunk_tokens=16, chunk_overlap=0, max_chunks_per_document=3)
    with pytest.raises(DocumentTooLargeError):
        svc.ingest(tenant="acme", collection="main", files=[("long.txt", (DOCS["volcano.txt"] * 3).encode())])
    assert svc.stats()["documents"] == 0


def test_query_vector_pass_through_equals_encoding_here(make_service: Factory) -> None:
    svc = make_service()
    _ingest(svc)
    query = QUERIES["chess.txt"]
    (vec,) = svc.encode_queries([query])
    assert vec.shape == (svc.encoder.dimension,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    for mode in MODES:
        assert _key(svc.search("acme", query, top_k=3, mode=mode, query_vector=vec)) == _key(
            svc.search("acme", query, top_k=3, mode=mode)
        )
    assert svc.search("acme", "   ", top_k=3) == []


def test_hits_carry_rank_and_the_question_passage_cosine_in_every_mode(make_service: Factory) -> None:
    svc = make_service()
    _ingest(svc)
    query = QUERIES["chess.txt"]
    (vec,) = svc.encode_queries([query])
    for mode in MODES:
        hits = svc.search("acme", query, top_k=3, mode=mode, query_vector=vec)
        assert hits and [h.rank for h in hits] == list(range(1, len(hits) + 1))
        if mode is RetrievalMode.DENSE:
            assert all(h.relevance is not None for h in hits)
        if mode is RetrievalMode.BM25:  # the keyword search measures no cosine
            assert all(h.relevance is None for h in hits)
        for h in hits:
            if h.relevance is None:
                continue
            # The cosine the dense search measured, not a second embedding: equal to encoding the chunk here.
            expected = float(svc.encoder.encode([h.text])[0] @ vec)
            assert h.relevance == pytest.approx(expected, abs=1e-4), mode
    assert svc.search("acme", query, top_k=1, mode=RetrievalMode.HYBRID, query_vector=vec)[0].relevance is not None
    # Without a query vector, bm25 encodes nothing, so there is no cosine to give.
    assert all(h.relevance is None for h in svc.search("acme", query, top_k=3, mode=RetrievalMode.BM25))


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_forced_ann_indexes_search_and_survive_restart(make_embedded: Factory, kind: str) -> None:
    svc = make_embedded(vector_index=kind)
    ids = _ingest(svc)
    hits = svc.search("acme", QUERIES["bread.txt"], top_k=2, mode=RetrievalMode.DENSE)
    assert hits[0].chunk.document_id == ids["bread.txt"]
    svc.delete_document("acme", ids["bread.txt"])
    before = _all_results(svc)
    svc.close()
    again = make_embedded(vector_index=kind)
    assert again.stats()["vector_index"]["kinds"] == [kind]
    assert _all_results(again) == before


def test_auto_switches_to_hnsw_past_the_threshold(make_embedded: Factory) -> None:
    svc = make_embedded(ann_threshold=3)
    _ingest(svc)
    assert svc.stats()["vector_index"]["kinds"] == ["flat"]  # grew at run time; the saver switches it
    svc.close()
    again = make_embedded(ann_threshold=3)
    assert again.stats()["vector_index"]["kinds"] == ["hnsw"]
    assert again.stats()["vector_index"]["size"] == len(DOCS)


def test_snapshots_write_dirty_shards_only(make_embedded: Factory, tmp_path: Path) -> None:
    svc = make_embedded()
    _ingest(svc, tenant="a")
    _ingest(svc, tenant="b")
    assert svc.backend.save_snapshots() == 2  # what the background thread does when the shards are dirty
    assert svc.backend.save_snapshots() == 0
    svc.delete_document("a", svc.list_documents("a")[0][0].id)
    assert svc.backend.save_snapshots() == 1
    assert len(list((tmp_path / "data" / "vectors").glob("*.json"))) == 2


def test_not_loaded_is_index_unavailable(encoder: SentenceTransformerEncoder, tmp_path: Path) -> None:
    svc = RetrievalService(backend=EmbeddedBackend(tmp_path / "x"), encoder=encoder)
    assert not svc.ready
    with pytest.raises(IndexUnavailableError):
        svc.search("acme", "q", top_k=3)
    with pytest.raises(IndexUnavailableError):
        svc.ingest(tenant="acme", collection="c", files=_files(["rust.txt"]))
    assert not (tmp_path / "x").exists()  # the constructor touched nothing


def test_concurrent_ingest_and_search(make_service: Factory) -> None:
    from concurrent.futures import ThreadPoolExecutor

    svc = make_service()
    texts = [f"Report number {i} about the planet Zorblax{i} and its {i} moons." for i in range(12)]

    def work(i: int) -> str:
        (res,) = svc.ingest(tenant="acme", collection="main", files=[(f"r{i}.txt", texts[i].encode())])
        for mode in MODES:
            svc.search("acme", f"Zorblax{i} moons", top_k=3, mode=mode)
        return res.document.id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(work, range(12)))
    assert len(set(ids)) == 12
    assert svc.list_documents("acme", limit=100)[1] == 12
    for i, doc_id in enumerate(ids):
        hits = svc.search("acme", f"zorblax{i}", top_k=1, mode=RetrievalMode.BM25)
        assert hits[0].chunk.document_id == doc_id
