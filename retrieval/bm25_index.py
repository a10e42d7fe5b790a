"""Lexical search over one tenant's chunk texts with bm25s.

bm25s builds its sparse score matrix in one go and cannot add documents, so changes only mark the
index dirty; the next search rebuilds it (under the lock). Bulk ingestion therefore pays for one
rebuild, not one per document. Chunk texts are kept tokenised, as int32 ids into a shared vocabulary,
so a rebuild never re-tokenises and memory stays near 4 bytes per token.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

# bm25s runs a jax top-k at import time when jax is installed. Where jax's CUDA plugin is installed but
# finds no GPU it can use, that raises RuntimeError (not ImportError) and takes the import down: seen on
# a GPU host, where the server failed to start. jax on the CPU serves bm25s' top-k, so it stays there
# unless the user chose a platform.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import bm25s
import numpy as np

from lexicon import STOPWORDS, stem_words

logger = logging.getLogger(__name__)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-case word stems, the project's stopwords removed (``lexicon``)."""
    if not texts:
        return []
    out = bm25s.tokenize(list(texts), stopwords=_STOPWORDS, stemmer=stem_words, return_ids=False, show_progress=False)
    return [list(t) for t in out]


_STOPWORDS = sorted(STOPWORDS)


class Bm25Index:
    """BM25 over chunks identified by int64 ids; each chunk carries its collection for filtering."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._lock = threading.Lock()
        self._vocab: dict[str, int] = {}
        self._docs: dict[int, tuple[np.ndarray, str]] = {}  # chunk id -> (token ids, collection)
        self._retriever: Any = None
        self._positions = np.zeros(0, dtype=np.int64)  # bm25s row -> chunk id
        self._collections: dict[str, np.ndarray] = {}  # collection -> (rows,) float32 mask
        self._dirty = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._docs)

    def ids(self) -> np.ndarray:
        with self._lock:
            return np.array(sorted(self._docs), dtype=np.int64)

    def add(self, ids: Sequence[int] | np.ndarray, texts: Sequence[str], collections: Sequence[str]) -> None:
        ids_list = [int(i) for i in ids]
        if not (len(ids_list) == len(texts) == len(collections)):
            raise ValueError("ids, texts and collections must have the same length")
        tokens = tokenize(texts)  # outside the lock: the slow part
        with self._lock:
            for cid, toks, coll in zip(ids_list, tokens, collections, strict=True):
                arr = np.fromiter(
                    (self._vocab.setdefault(t, len(self._vocab)) for t in toks), dtype=np.int32, count=len(toks)
                )
                self._docs[cid] = (arr, coll)
            self._dirty = True

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        with self._lock:
            removed = sum(self._docs.pop(int(i), None) is not None for i in ids)
            if removed:
                self._dirty = True
            return removed

    def _rebuild(self) -> None:
        order = sorted(self._docs)
        self._positions = np.array(order, dtype=np.int64)
        self._retriever = None
        self._collections = {}
        self._dirty = False
        if not order:
            return
        corpus = [self._docs[i][0].tolist() for i in order]
        retriever = bm25s.BM25(k1=self.k1, b=self.b)
        # A copy: bm25s may add an empty-token entry to the vocabulary it is given.
        retriever.index((corpus, dict(self._vocab)), create_empty_token=False, show_progress=False)
        self._retriever = retriever
        colls = np.array([self._docs[i][1] for i in order], dtype=object)
        for name in set(colls.tolist()):
            self._collections[name] = (colls == name).astype(np.float32)

    def search(self, query: str, k: int, collection: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` chunk ids (and BM25 scores) matching at least one query term, best first."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        tokens = tokenize([query])[0] if query.strip() else []
        if not tokens or k <= 0:
            return empty
        with self._lock:
            if self._dirty:
                self._rebuild()
            if self._retriever is None:
                return empty
            token_ids = [self._vocab[t] for t in tokens if t in self._vocab]
            if not token_ids:
                return empty
            mask = None
            if collection is not None:
                mask = self._collections.get(collection)
                if mask is None:
                    return empty
            scores = np.asarray(self._retriever.get_scores_from_ids(token_ids, weight_mask=mask))  # (rows,)
            positions = self._positions
        matched = np.flatnonzero(scores > 0)
        if matched.size == 0:
            return empty
        if matched.size > k:
            part = np.argpartition(-scores[matched], k - 1)[:k]
            matched = matched[part]
        order = matched[np.lexsort((positions[matched], -scores[matched]))]
        return positions[order], scores[order].astype(np.float32)
