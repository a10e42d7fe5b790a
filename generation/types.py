"""Plain data passed between the generation core and its callers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ChatMessage = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


class Passage(Protocol):
    """A retrieved passage, as the prompt builder and the adjustment stage read it.

    ``generation`` does not define the passage type itself: whatever the caller retrieved with passes
    if it has these attributes (``retrieval.types.SearchHit`` does, structurally, without either
    package importing the other), so one object goes from retrieval to the prompt and the answer check.
    """

    @property
    def rank(self) -> int:
        """1-based; the prompt shows the passage as ``[rank]`` and citations refer to it by that number."""
        ...

    @property
    def document_id(self) -> str: ...

    @property
    def source(self) -> str:
        """The file name, as the prompt shows it."""
        ...

    @property
    def page(self) -> int | None: ...

    @property
    def start(self) -> int:
        """Character offset of ``text`` in the document's extracted text (``end`` is exclusive)."""
        ...

    @property
    def end(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def relevance(self) -> float | None:
        """Cosine of the question's and the passage's embeddings, when known; abstention reads it."""
        ...


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length" | "cancelled"


@dataclass(frozen=True)
class StreamChunk:
    delta: str  # new text ("" allowed)
    result: GenerationResult | None = None  # set only on the last chunk
