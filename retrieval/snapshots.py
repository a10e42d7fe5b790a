"""Snapshot files of the embedded back end's vector indexes, and whether one can be trusted.

Each tenant's index goes to ``vectors/<tenant>.faiss`` plus a ``.json`` manifest, both written
atomically. A snapshot is trusted only if its manifest names the current embedding model and dimension
and its ids are exactly the store's chunk ids for that tenant; otherwise a warning says why and the
caller rebuilds from the stored embeddings. An unreadable file is moved to ``quarantine/``, never deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from retrieval.vector_index import VectorIndex, atomic_write_bytes

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1


def ids_checksum(ids: np.ndarray) -> str:
    """sha256 of the sorted ids as little-endian int64: identifies the exact id set of a snapshot."""
    return hashlib.sha256(np.sort(np.asarray(ids, dtype="<i8")).tobytes()).hexdigest()


def tenant_file_stem(tenant: str) -> str:
    """A filesystem-safe, collision-free name for a tenant's index files."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", tenant)[:48] or "tenant"
    return f"{slug}-{hashlib.sha256(tenant.encode()).hexdigest()[:12]}"


class SnapshotFiles:
    """Reads and writes the snapshots under ``data_dir`` for one embedding model."""

    def __init__(self, data_dir: Path, model_name: str, dimension: int) -> None:
        self.data_dir = Path(data_dir)
        self.model_name = model_name
        self.dimension = dimension

    @property
    def vectors_dir(self) -> Path:
        return self.data_dir / "vectors"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    def paths(self, tenant: str) -> tuple[Path, Path]:
        """(index file, manifest file) of ``tenant``."""
        stem = tenant_file_stem(tenant)
        return self.vectors_dir / f"{stem}.faiss", self.vectors_dir / f"{stem}.json"

    def write(self, tenant: str, index: VectorIndex) -> None:
        data, ids = index.snapshot()
        index_path, manifest_path = self.paths(tenant)
        manifest = {
            "format": MANIFEST_FORMAT,
            "tenant": tenant,
            "embedding_model": self.model_name,
            "dimension": self.dimension,
            "kind": index.kind,
            "count": int(ids.size),
            "ids_sha256": ids_checksum(ids),
            "saved_at": time.time(),
        }
        # Index first, then manifest: a crash in between leaves a checksum mismatch, i.e. a rebuild.
        atomic_write_bytes(index_path, lambda f: f.write(data))
        body = json.dumps(manifest, indent=2).encode()
        atomic_write_bytes(manifest_path, lambda f: f.write(body))

    def load(
        self, tenant: str, store_ids: np.ndarray, expected_kind: str, new_index: Callable[[], VectorIndex]
    ) -> VectorIndex | None:
        """The tenant's snapshot if it is trustworthy, else None (after a warning saying why)."""
        index_path, manifest_path = self.paths(tenant)
        if not index_path.exists():
            if store_ids.size:
                logger.warning("no index file for tenant %r: rebuilding from the store", tenant)
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            if not isinstance(manifest, dict):
                raise ValueError("manifest is not a JSON object")
        except (OSError, ValueError) as exc:
            logger.warning("index manifest of tenant %r is unreadable (%s): rebuilding", tenant, exc)
            self.quarantine(manifest_path)
            return None
        if manifest.get("embedding_model") != self.model_name or manifest.get("dimension") != self.dimension:
            logger.warning(
                "index of tenant %r was built with %s/%s, not %s/%d: rebuilding",
                tenant,
                manifest.get("embedding_model"),
                manifest.get("dimension"),
                self.model_name,
                self.dimension,
            )
            return None
        index = new_index()
        try:
            index.load(index_path)
        except Exception as exc:  # faiss raises RuntimeError, numpy ValueError/OSError/zipfile errors
            logger.warning("index file of tenant %r is unreadable (%s): quarantined, rebuilding", tenant, exc)
            self.quarantine(index_path)
            return None
        loaded_ids = index.ids()
        if ids_checksum(loaded_ids) != manifest.get("ids_sha256"):
            logger.warning("index file of tenant %r does not match its manifest: rebuilding", tenant)
            return None
        if not np.array_equal(loaded_ids, store_ids):
            logger.warning(
                "index of tenant %r holds %d vectors but the store has %d chunks (or other ids): rebuilding",
                tenant,
                loaded_ids.size,
                store_ids.size,
            )
            return None
        if index.kind != expected_kind:
            logger.info("index of tenant %r is %s; rebuilding as configured", tenant, index.kind)
            return None
        return index

    def quarantine(self, path: Path) -> None:
        if not path.exists():
            return
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:8]}"
        path.replace(target)
        logger.warning("moved %s to %s", path, target)
