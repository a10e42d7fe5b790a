"""Token-aware chunking: passages that fit the encoder, cut where the prose allows.

Each page (or the whole text, for formats without pages) is tokenized once with the
encoder's own tokenizer; chunk boundaries are then chosen among token boundaries, preferring
a paragraph break, then a sentence end, then a space. Every chunk is re-tokenized in one
batch afterwards and split further should a tokenizer count a span differently out of
context, so no chunk ever exceeds what the encoder reads.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np

from retrieval.budget import Ticker, WorkBudget
from retrieval.types import ChunkSpan, ParsedDocument

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*\s+|\n\s*")
_NON_SPACE = re.compile(r"\S")

# Characters per tokenizer call: long texts are tokenized as a batch of pieces this long.
_PIECE_CHARS = 16_384
# Split-point quality, best last.
_ANY, _WORD, _SENTENCE, _PARAGRAPH = 0, 1, 2, 3


class _Tokens:
    """Token offsets and counts from a private copy of a Hugging Face fast tokenizer.

    A copy, because the tokenizer we are handed is usually the encoder's: calling it with other
    truncation settings from another thread would change how the encoder truncates.
    """

    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            from tokenizers import Tokenizer

            self._backend: Any = Tokenizer.from_str(backend.to_str())
            self._backend.no_truncation()
            self._backend.no_padding()
        else:
            self._backend = None
        self._tokenizer = tokenizer

    def offsets(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Start and end character offsets of the tokens of ``text``, (T,) each.

        Long text is cut at whitespace into pieces tokenized as one batch: the tokenizer then
        runs on every core, and pieces cut at whitespace tokenize as the whole would.
        """
        bounds = _pieces(text)
        pieces = [text[a:b] for a, b in bounds]
        if self._backend is not None:
            per_piece = [enc.offsets for enc in self._backend.encode_batch(pieces, add_special_tokens=False)]
        else:
            per_piece = self._tokenizer(pieces, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
                "offset_mapping"
            ]
        arrays = [
            np.asarray(pairs, dtype=np.int64).reshape(-1, 2) + a
            for (a, _), pairs in zip(bounds, per_piece, strict=True)
        ]
        both = np.concatenate(arrays) if arrays else np.zeros((0, 2), dtype=np.int64)  # (T, 2)
        both = both[both[:, 1] > both[:, 0]]  # drop zero-width tokens
        return both[:, 0].copy(), both[:, 1].copy()

    def counts(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self._backend is not None:
            return [len(enc.ids) for enc in self._backend.encode_batch(texts, add_special_tokens=False)]
        ids = self._tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]


class TokenChunker:
    """Splits a ``ParsedDocument`` into overlapping passages measured in encoder tokens.

    ``chunk_tokens`` is the target length; with ``max_tokens`` (what the encoder reads, special
    tokens included) the budget is clamped to ``max_tokens`` minus the special tokens. ``overlap``
    is clamped to half the budget so every step makes progress.
    """

    def __init__(
        self, tokenizer: Any, chunk_tokens: int = 200, overlap: int = 40, max_tokens: int | None = None
    ) -> None:
        if chunk_tokens < 1 or overlap < 0:
            raise ValueError("chunk_tokens must be positive and overlap non-negative")
        self.tokenizer = tokenizer
        budget = chunk_tokens
        if max_tokens is not None:
            special = _special_token_count(tokenizer)
            if max_tokens - special < 1:
                raise ValueError(f"max_tokens={max_tokens} leaves no room besides {special} special tokens")
            budget = min(budget, max_tokens - special)
        self.budget = budget
        self.overlap = min(overlap, budget // 2)
        self._tokens: _Tokens | None = None
        self._lock = threading.Lock()

    def _tok(self) -> _Tokens:
        with self._lock:
            if self._tokens is None:
                self._tokens = _Tokens(self.tokenizer)
            return self._tokens

    def chunk(self, doc: ParsedDocument, budget: WorkBudget | None = None) -> list[ChunkSpan]:
        """Chunks in document order; ``chunk.text == doc.text[chunk.start:chunk.end]``, never blank.

        Checks ``budget`` as it goes (IngestTimeoutError, IngestCancelledError).
        """
        tok = self._tok()
        ticker = Ticker(budget or WorkBudget())
        segments = [(p.start, p.end, p.page) for p in doc.pages] if doc.pages else [(0, len(doc.text), None)]
        spans: list[tuple[int, int, int | None]] = []
        for start, end, page in segments:
            spans.extend((s, e, page) for s, e in self._segment(tok, doc.text, start, end, ticker))
        return self._enforce_budget(tok, doc.text, spans)

    def _segment(self, tok: _Tokens, text: str, seg_start: int, seg_end: int, ticker: Ticker) -> list[tuple[int, int]]:
        segment = text[seg_start:seg_end]
        first = _NON_SPACE.search(segment)
        if first is None:
            return []
        starts, ends = tok.offsets(segment)
        ticker.check()
        n = len(starts)
        if n == 0:
            return [(seg_start + first.start(), seg_start + len(segment.rstrip()))]
        levels = _split_levels(segment, starts, ends)
        budget, overlap = self.budget, self.overlap
        min_fill = max(1, budget // 2)

        out: list[tuple[int, int]] = []
        i = 0
        while i < n:
            ticker.tick()
            if i + budget >= n:
                k = n
            else:
                window = levels[i + min_fill : i + budget + 1]  # candidate k in [i+min_fill, i+budget]
                best = int(window.max())
                k = i + min_fill + int(np.flatnonzero(window == best)[-1]) if best > _ANY else i + budget
            # Characters no token covers (dropped by the tokenizer) stay inside some chunk: the
            # first chunk starts at the first non-space character, a chunk ends at the last
            # non-space character before the next token.
            start = int(starts[i]) if out else min(first.start(), int(starts[i]))
            gap_end = int(starts[k]) if k < n else len(segment)
            end = int(ends[k - 1]) + len(segment[int(ends[k - 1]) : gap_end].rstrip())
            out.append((seg_start + start, seg_start + end))
            if k >= n:
                break
            nxt = max(k - overlap, i + (k - i + 1) // 2) if overlap else k
            if nxt < k:  # start the overlap on a word, not mid-word, when one is near
                words = np.flatnonzero(levels[nxt:k] >= _WORD)
                if words.size:
                    nxt += int(words[0])
            i = nxt
        return out

    def _enforce_budget(self, tok: _Tokens, text: str, spans: list[tuple[int, int, int | None]]) -> list[ChunkSpan]:
        counts = tok.counts([text[s:e] for s, e, _ in spans])
        out: list[ChunkSpan] = []
        for (s, e, page), count in zip(spans, counts, strict=True):
            if count <= self.budget:
                out.append(ChunkSpan(text=text[s:e], start=s, end=e, page=page))
            else:
                out.extend(
                    ChunkSpan(text=text[a:b], start=a, end=b, page=page) for a, b in self._refit(tok, text, s, e)
                )
        return out

    def _refit(self, tok: _Tokens, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Cut ``text[start:end]`` into pieces that each re-tokenize within the budget (rare path)."""
        pieces: list[tuple[int, int]] = []
        while start < end:
            piece = text[start:end]
            token_starts, token_ends = tok.offsets(piece)
            if len(token_ends) <= self.budget and tok.counts([piece])[0] <= self.budget:
                pieces.append((start, end))
                break
            take = max(1, min(self.budget, len(token_ends)))
            # Cut between words where one is in the second half: a cut inside the last word would
            # leave a tail such as "." or "ing." that holds nothing a search can find.
            words = [j for j in range(max(1, take // 2), take) if token_starts[j] > token_ends[j - 1]]
            if words:
                take = words[-1]
            while True:
                cut = start + int(token_ends[take - 1])
                if take == 1 or tok.counts([text[start:cut]])[0] <= self.budget:
                    break
                take -= 1
            pieces.append((start, cut))
            rest = _NON_SPACE.search(text, cut, end)
            if rest is None:
                break
            start = rest.start()
        return pieces


def _pieces(text: str, size: int = _PIECE_CHARS) -> list[tuple[int, int]]:
    """Cut ``text`` into spans of at most ``size`` characters, at a paragraph, line or space."""
    out: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while n - pos > size:
        lo, hi = pos + size // 2, pos + size
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, lo, hi)
            if cut >= 0:
                break
        cut = hi if cut < 0 else cut + 1
        out.append((pos, cut))
        pos = cut
    out.append((pos, n))
    return out


def _special_token_count(tokenizer: Any) -> int:
    counter = getattr(tokenizer, "num_special_tokens_to_add", None)
    if callable(counter):
        try:
            return int(counter(pair=False))
        except Exception:
            pass
    return 2


def _split_levels(segment: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``levels[k]``: how good a place the boundary before token k is to end a chunk."""
    n = len(starts)
    levels = np.zeros(n + 1, dtype=np.int8)  # (n+1,): one per boundary, k = n is the end
    if n > 1:
        levels[1:n][starts[1:] > ends[:-1]] = _WORD
    for pattern, level in ((_SENTENCE_END, _SENTENCE), (_PARAGRAPH_BREAK, _PARAGRAPH)):
        match_ends = np.fromiter((m.end() for m in pattern.finditer(segment)), dtype=np.int64)
        if match_ends.size == 0:
            continue
        # The token starting where the break's whitespace ends; keep only real token boundaries.
        ks = np.searchsorted(starts, match_ends, side="left")
        ks = ks[(ks > 0) & (ks < n)]
        ks = ks[levels[ks] >= _WORD]
        levels[ks] = np.maximum(levels[ks], level)
    levels[n] = _PARAGRAPH
    return levels
