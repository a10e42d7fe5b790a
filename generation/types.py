"""Plain data passed between the generation core and its callers."""

from __future__ import annotations

from dataclasses import dataclass

ChatMessage = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


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
