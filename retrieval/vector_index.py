"""Vector search: the ``VectorIndex`` seam and its FAISS implementation (inner product on unit vectors).

Kinds:
- ``flat``: ``IndexIDMap2(IndexFlatIP)``, exact, supports removal.
- ``hnsw``: ``IndexIDMap2(IndexHNSWFlat)``; HNSW cannot remove, so removed ids become tombstones that
  the search selector excludes, and the graph is rebuilt from its own stored vectors once tombstones
  pass 20% of it.
- ``ivf``: ``IndexIVFFlat`` (it takes ids natively and can remove), trained on the first vectors it
  is given.

A file written by ``save`` is an uncompressed ``.npz`` holding the serialised FAISS index and the
tombstones, written atomically (temp file in the same folder, fsync, rename, fsync of the folder).
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import faiss as _faiss
import numpy as np

# The bundled stubs miss much of the SWIG API (DirectMap, SearchParametersHNSW, downcasts).
faiss: Any = _faiss

IndexKind = Literal["flat", "hnsw", "ivf"]

_TOMBSTONE_REBUILD_FRACTION = 0.2
_HNSW_EXACT_FALLBACK = 0.02  # allowed sets under 2% of the graph are searched exactly, not via HNSW


class VectorIndex(Protocol):
    """A set of (id, unit vector) pairs searchable by inner product. Implementations are thread-safe."""

    @property
    def kind(self) -> str: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``ids`` (N,) int64 with ``vectors`` (N, D) float32. Ids must not be present already."""
        ...

    def remove(self, ids: np.ndarray | Sequence[int]) -> int:
        """Remove ``ids`` (absent ones are ignored); returns how many were removed."""
        ...

    def search(
        self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest ids to ``vector`` (D,) and their scores, best first.

        ``allowed_ids`` restricts the search itself (not a post-filter), so k allowed ids come back
        whenever k exist.
        """
        ...

    def similarity(self, vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Inner product of ``vector`` (D,) with the stored vector of each of ``ids`` (N,): (N,) float32,
        NaN where an id is not stored."""
        ...

    def ids(self) -> np.ndarray:
        """Every live id, sorted (int64)."""
        ...

    def __len__(self) -> int: ...

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids (N,), vectors (N, D)) of every live entry, sorted by id: to rebuild as another kind."""
        ...

    def snapshot(self) -> tuple[bytes, np.ndarray]:
        """The bytes ``save`` would write and the live ids they hold, taken together."""
        ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None:
        """Replace the contents with the file's. Raises (ValueError, OSError, ...) if it is unreadable."""
        ...


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Write a file atomically: ``write(fileobj)`` into a temp file beside it, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class FaissVectorIndex:
    """FAISS index of one tenant's chunk vectors; see the module docstring for the kinds."""

    def __init__(
        self,
        dimension: int,
        kind: IndexKind = "flat",
        *,
        hnsw_m: int = 32,
        hnsw_ef_construction: int = 80,
        hnsw_ef_search: int = 64,
        ivf_nprobe: int = 16,
    ) -> None:
        if kind not in ("flat", "hnsw", "ivf"):
            raise ValueError(f"unknown vector index kind {kind!r}")
        self.dimension = dimension
        self._kind: IndexKind = kind
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self.hnsw_ef_search = hnsw_ef_search
        self.ivf_nprobe = ivf_nprobe
        self._lock = threading.RLock()
        self._tombstones: set[int] = set()
        self._index: Any = self._empty()

    @property
    def kind(self) -> str:
        return self._kind

    # --- construction ----------------------------------------------------------------------------

    def _empty(self) -> Any:
        if self._kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        if self._kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dimension, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = self.hnsw_ef_construction
            hnsw.hnsw.efSearch = self.hnsw_ef_search
            return faiss.IndexIDMap2(hnsw)
        return None  # ivf: created on the first add, trained on those vectors

    def _new_ivf(self, train: np.ndarray) -> Any:
        n = train.shape[0]
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        quantizer = faiss.IndexFlatIP(self.dimension)
        ivf = faiss.IndexIVFFlat(quantizer, self.dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(train)
        ivf.nprobe = min(self.ivf_nprobe, nlist)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct(id) for the exact fallback
        return ivf

    @staticmethod
    def _check(ids: np.ndarray, vectors: np.ndarray, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (ids.shape[0], dimension):
            raise ValueError(f"expected vectors of shape ({ids.shape[0]}, {dimension}), got {vectors.shape}")
        return ids, vectors

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = self._check(ids, vectors, self.dimension)
        if ids.size == 0:
            return
        with self._lock:
            if self._index is None:
                self._index = self._new_ivf(vectors)
            if self._tombstones and self._tombstones.intersection(ids.tolist()):
                # Re-adding a tombstoned id (HNSW): drop the old vector first, by rebuilding.
                self._compact()
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray | Sequence[int]) -> int:
        arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if arr.size == 0:
            return 0
        with self._lock:
            if self._index is None:
                return 0
            if self._kind == "hnsw":
                present = self._all_ids()
                hit = set(np.intersect1d(present, arr).tolist()) - self._tombstones
                self._tombstones |= hit
                if len(self._tombstones) > _TOMBSTONE_REBUILD_FRACTION * self._index.ntotal:
                    self._compact()
                return len(hit)
            sel = faiss.IDSelectorArray(arr) if self._kind == "ivf" else faiss.IDSelectorBatch(arr)
            return int(self._index.remove_ids(sel))

    def _all_ids(self) -> np.ndarray:
        """Every id the FAISS index holds, tombstoned ones included, in internal order."""
        if self._index is None:
            return np.zeros(0, dtype=np.int64)
        if self._kind == "ivf":
            inv = self._index.invlists
            parts = [
                faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                for i in range(self._index.nlist)
                if inv.list_size(i)
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)

    def _compact(self) -> None:
        """Rebuild the HNSW graph without its tombstones, from the vectors it stores."""
        all_ids = self._all_ids()
        hnsw = faiss.downcast_index(self._index.index)
        vectors = hnsw.storage.reconstruct_n(0, self._index.ntotal) if all_ids.size else None
        keep = ~np.isin(all_ids, np.fromiter(self._tombstones, dtype=np.int64))
        self._index = self._empty()
        self._tombstones = set()
        if vectors is not None and keep.any():
            self._index.add_with_ids(np.ascontiguousarray(vectors[keep]), all_ids[keep])

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids (N,), vectors (N, D)) of every live entry, sorted by id: to rebuild as another kind."""
        with self._lock:
            if self._index is None or self._index.ntotal == 0:
                return np.zeros(0, dtype=np.int64), np.zeros((0, self.dimension), dtype=np.float32)
            if self._kind == "ivf":
                ids = self.ids()
                return ids, self._reconstruct(ids)
            all_ids = self._all_ids()
            inner = faiss.downcast_index(self._index.index)
            storage = inner.storage if self._kind == "hnsw" else inner
            vectors = storage.reconstruct_n(0, self._index.ntotal)
            keep = ~np.isin(all_ids, np.fromiter(self._tombstones, dtype=np.int64))
            order = np.argsort(all_ids[keep], kind="stable")
            return all_ids[keep][order], np.ascontiguousarray(vectors[keep][order])

    # --- queries ---------------------------------------------------------------------------------

    def ids(self) -> np.ndarray:
        with self._lock:
            all_ids = self._all_ids()
            if self._tombstones:
                all_ids = all_ids[~np.isin(all_ids, np.fromiter(self._tombstones, dtype=np.int64))]
            return np.sort(all_ids)

    def __len__(self) -> int:
        with self._lock:
            if self._index is None:
                return 0
            return int(self._index.ntotal) - len(self._tombstones)

    def search(
        self, vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self.dimension)
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        with self._lock:
            if self._index is None or k <= 0 or len(self) == 0:
                return empty
            allowed: np.ndarray | None = None
            if allowed_ids is not None:
                allowed = np.ascontiguousarray(np.asarray(allowed_ids, dtype=np.int64).reshape(-1))
                if self._tombstones:
                    allowed = allowed[~np.isin(allowed, np.fromiter(self._tombstones, dtype=np.int64))]
                if allowed.size == 0:
                    return empty
            small = allowed is not None and allowed.size <= max(k, _HNSW_EXACT_FALLBACK * self._index.ntotal)
            if self._kind != "flat" and allowed is not None and small:
                return self._exact(query[0], k, allowed)
            ids, scores = self._faiss_search(query, k, allowed)
            wanted = min(k, len(self) if allowed is None else allowed.size)
            if ids.size < wanted and self._kind != "flat":
                # An approximate index can come back short under a selective filter; answer exactly.
                pool = allowed if allowed is not None else self.ids()
                return self._exact(query[0], k, pool)
            return ids, scores

    def similarity(self, vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        query = np.asarray(vector, dtype=np.float32).reshape(self.dimension)
        out = np.full(len(ids), np.nan, dtype=np.float32)
        with self._lock:
            if self._index is None:
                return out
            for row, i in enumerate(np.asarray(ids, dtype=np.int64).tolist()):
                if i in self._tombstones:
                    continue
                try:
                    out[row] = float(self._index.reconstruct(int(i)) @ query)
                except RuntimeError:  # not stored (deleted meanwhile)
                    continue
        return out

    def _faiss_search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        sel: Any = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(allowed)
        elif self._tombstones:
            sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.fromiter(self._tombstones, dtype=np.int64)))
        params: Any = None
        if self._kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.hnsw_ef_search, k))
        elif self._kind == "ivf":
            params = faiss.SearchParametersIVF(sel=sel, nprobe=self._index.nprobe)
        elif sel is not None:
            params = faiss.SearchParameters(sel=sel)
        scores, ids = self._index.search(query, k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def _exact(self, query: np.ndarray, k: int, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._reconstruct(pool)  # (P, D)
        scores = vectors @ query  # (P,)
        top = np.argsort(-scores, kind="stable")[:k]
        return pool[top].astype(np.int64), scores[top].astype(np.float32)

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray:
        out = np.empty((ids.size, self.dimension), dtype=np.float32)
        for row, i in enumerate(ids.tolist()):
            out[row] = self._index.reconstruct(int(i))
        return out

    # --- persistence -----------------------------------------------------------------------------

    def snapshot(self) -> tuple[bytes, np.ndarray]:
        """The file contents for ``save`` and the live ids they hold, taken together under the lock."""
        with self._lock:
            blob = faiss.serialize_index(self._index) if self._index is not None else np.zeros(0, dtype=np.uint8)
            tomb = np.fromiter(sorted(self._tombstones), dtype=np.int64)
            ids = self.ids()
            kind = self._kind
        buf = io.BytesIO()
        np.savez(buf, index=blob, tombstones=tomb, kind=np.array(kind), dim=np.array(self.dimension))
        return buf.getvalue(), ids

    def save(self, path: Path) -> None:
        data, _ = self.snapshot()
        atomic_write_bytes(Path(path), lambda f: f.write(data))

    def load(self, path: Path) -> None:
        """Replace the contents with the file's. Raises ValueError (or OSError) if it is unreadable."""
        # Our own file handle: np.load leaves the one it opens unclosed when the bytes are no archive.
        with Path(path).open("rb") as fh:
            archive = np.load(fh, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(f"index file {path} is not an index archive")
            with archive as z:
                kind = str(z["kind"])
                dim = int(z["dim"])
                blob = z["index"]
                tomb = z["tombstones"]
        if kind not in ("flat", "hnsw", "ivf"):
            raise ValueError(f"unknown index kind {kind!r} in {path}")
        if dim != self.dimension:
            raise ValueError(f"index file {path} has dimension {dim}, expected {self.dimension}")
        index = faiss.deserialize_index(blob) if blob.size else None
        if index is not None and index.d != dim:
            raise ValueError(f"index file {path} is inconsistent")
        with self._lock:
            self._kind = kind  # type: ignore[assignment]
            self._index = index if index is not None or kind == "ivf" else self._empty()
            self._tombstones = set(tomb.tolist())
            if self._kind == "hnsw" and self._index is not None:
                faiss.downcast_index(self._index.index).hnsw.efSearch = self.hnsw_ef_search
