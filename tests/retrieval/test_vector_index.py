"""FAISS vector index: flat, HNSW and IVF kinds; removal, in-search filtering, atomic persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.vector_index import FaissVectorIndex, IndexKind

DIM = 32
N = 2000


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return np.arange(10_000, 10_000 + N, dtype=np.int64), _unit(rng, N)


def _built(kind: IndexKind, data: tuple[np.ndarray, np.ndarray]) -> FaissVectorIndex:
    idx = FaissVectorIndex(DIM, kind)
    idx.add(*data)
    return idx


KINDS: list[IndexKind] = ["flat", "hnsw", "ivf"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_stored_vector_finds_itself_first(kind: IndexKind, data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vecs = data
    idx = _built(kind, data)
    assert len(idx) == N
    found, scores = idx.search(vecs[123], 5)
    assert found[0] == ids[123]
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.parametrize("kind", KINDS)
def test_similarity_is_the_inner_product_with_stored_vectors(
    kind: IndexKind, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vecs = data
    idx = _built(kind, data)
    idx.remove(ids[5:6])
    got = idx.similarity(vecs[3], np.array([ids[3], ids[9], ids[5], 1], dtype=np.int64))
    assert got[:2] == pytest.approx([1.0, float(vecs[9] @ vecs[3])], abs=1e-5)
    assert np.isnan(got[2:]).all()  # removed, never stored


@pytest.mark.parametrize("kind", KINDS)
def test_removed_ids_are_never_returned(kind: IndexKind, data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vecs = data
    idx = _built(kind, data)
    gone = ids[100:150]
    assert idx.remove(gone) == 50
    assert idx.remove(gone) == 0  # already gone
    assert len(idx) == N - 50
    assert not np.isin(gone, idx.ids()).any()
    for row in range(100, 150, 7):
        found, _ = idx.search(vecs[row], 20)
        assert not np.isin(found, gone).any()
        assert found.size == 20


def test_hnsw_rebuilds_once_tombstones_pass_a_fifth(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vecs = data
    idx = _built("hnsw", data)
    idx.remove(ids[: N // 2])
    assert len(idx) == N // 2
    assert np.array_equal(idx.ids(), ids[N // 2 :])
    found, _ = idx.search(vecs[N - 1], 1)
    assert found.tolist() == [ids[N - 1]]
    # A removed id can come back with a new vector.
    idx.add(ids[:1], vecs[N - 1 : N])
    found, _ = idx.search(vecs[N - 1], 2)
    assert set(found.tolist()) == {ids[0], ids[N - 1]}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stride", [3, 97])
def test_allowed_ids_give_k_allowed_results(kind: IndexKind, stride: int, data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vecs = data
    idx = _built(kind, data)
    allowed = ids[::stride]
    for row in (0, 1, 500):
        found, _ = idx.search(vecs[row], 10, allowed_ids=allowed)
        assert found.size == 10
        assert np.isin(found, allowed).all()
    # Exact for the flat index: the same as brute force over the allowed set.
    if kind == "flat":
        q = vecs[1]
        expected = allowed[np.argsort(-(vecs[::stride] @ q))[:10]]
        assert idx.search(q, 10, allowed_ids=allowed)[0].tolist() == expected.tolist()


def test_allowed_set_smaller_than_k_and_empty(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vecs = data
    for kind in KINDS:
        idx = _built(kind, data)
        found, _ = idx.search(vecs[0], 10, allowed_ids=ids[:3])
        assert sorted(found.tolist()) == ids[:3].tolist()
        assert idx.search(vecs[0], 10, allowed_ids=np.zeros(0, dtype=np.int64))[0].size == 0


def test_empty_index_searches_to_nothing() -> None:
    for kind in KINDS:
        idx = FaissVectorIndex(DIM, kind)
        assert len(idx) == 0
        assert idx.search(np.ones(DIM, dtype=np.float32), 5)[0].size == 0
        assert idx.remove([1, 2]) == 0


def test_wrong_shapes_are_rejected() -> None:
    idx = FaissVectorIndex(DIM)
    with pytest.raises(ValueError):
        idx.add(np.arange(3, dtype=np.int64), np.zeros((3, DIM + 1), dtype=np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_roundtrip(kind: IndexKind, data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    ids, vecs = data
    idx = _built(kind, data)
    idx.remove(ids[:10])
    path = tmp_path / "vectors" / "t.faiss"
    idx.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["t.faiss"]  # no temp file left behind
    again = FaissVectorIndex(DIM)  # the kind comes from the file
    again.load(path)
    assert again.kind == kind
    assert np.array_equal(again.ids(), idx.ids())
    for row in (20, 700):
        a, sa = idx.search(vecs[row], 10)
        b, sb = again.search(vecs[row], 10)
        assert a.tolist() == b.tolist()
        assert np.allclose(sa, sb)


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = _built("flat", data)
    path = tmp_path / "t.faiss"
    idx.save(path)
    before = path.read_bytes()
    idx.remove(data[0][:5])

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("retrieval.vector_index.os.fsync", boom)
    with pytest.raises(OSError):
        idx.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.faiss"]


def test_garbage_file_raises_on_load(tmp_path: Path) -> None:
    path = tmp_path / "bad.faiss"
    path.write_bytes(b"not an index at all" * 10)
    with pytest.raises(Exception):  # noqa: B017 - numpy raises one of several types
        FaissVectorIndex(DIM).load(path)


def test_export_returns_live_vectors_sorted(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vecs = data
    for kind in KINDS:
        idx = _built(kind, data)
        idx.remove(ids[:3])
        out_ids, out_vecs = idx.export()
        assert np.array_equal(out_ids, ids[3:])
        assert np.allclose(out_vecs, vecs[3:], atol=1e-6)
