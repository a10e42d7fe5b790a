"""BM25 shard: ids map back correctly, collection masks apply inside the search, rebuilds are lazy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from retrieval.bm25_index import Bm25Index, tokenize

TEXTS = [
    "The cat sat on the mat near the window.",
    "Dogs are loyal animals and love long walks.",
    "A recipe for sourdough bread with a crisp crust.",
    "Volcanoes erupt when magma reaches the surface.",
    "The dog chased the cat around the garden.",
]


def _index() -> Bm25Index:
    idx = Bm25Index()
    idx.add([101, 205, 307, 411, 999], TEXTS, ["pets", "pets", "food", "geo", "pets"])
    return idx


def test_tokenizer_lowercases_and_drops_stopwords() -> None:
    assert tokenize(["The Quick brown FOX and the dog"]) == [["quick", "brown", "fox", "dog"]]


def test_search_returns_chunk_ids_best_first() -> None:
    ids, scores = _index().search("sourdough bread", 3)
    assert ids.tolist() == [307]
    assert scores[0] > 0
    ids, scores = _index().search("cat", 5)
    assert set(ids.tolist()) == {101, 999}
    assert list(scores) == sorted(scores, reverse=True)


def test_collection_mask_is_applied_inside_the_search() -> None:
    idx = _index()
    ids, _ = idx.search("cat dog magma bread", 10, collection="pets")
    assert ids.size > 0 and set(ids.tolist()) <= {101, 205, 999}
    ids, _ = idx.search("cat dog magma bread", 10, collection="geo")
    assert ids.tolist() == [411]
    assert idx.search("cat", 10, collection="nope")[0].size == 0


def test_remove_and_add_rebuild_lazily() -> None:
    idx = _index()
    assert idx.search("volcanoes", 5)[0].tolist() == [411]
    assert idx.remove([411, 12345]) == 1
    assert idx.search("volcanoes", 5)[0].size == 0
    idx.add([500], ["Volcanoes in Iceland"], ["geo"])
    assert idx.search("volcanoes", 5)[0].tolist() == [500]
    assert len(idx) == 5
    assert idx.ids().tolist() == [101, 205, 307, 500, 999]


def test_empty_index_and_empty_queries_give_no_hits() -> None:
    empty = Bm25Index()
    assert empty.search("anything", 5)[0].size == 0
    idx = _index()
    for query in ["", "   ", "the and of", "zzzunknownzzz"]:
        assert idx.search(query, 5)[0].size == 0
    assert idx.search("cat", 0)[0].size == 0
    idx.remove([101, 205, 307, 411, 999])
    assert idx.search("cat", 5)[0].size == 0


@pytest.mark.parametrize(("preset", "expected"), [(None, "cpu"), ("cuda", "cuda")])
def test_importing_the_bm25_index_keeps_jax_on_the_cpu_unless_the_user_chose(preset: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    if preset is not None:
        env["JAX_PLATFORMS"] = preset
    code = "import os, retrieval.bm25_index; print(os.environ['JAX_PLATFORMS'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
