"""The seam between ``LocalGenerator`` and the batch engine that runs the model under it.

``LocalGenerator`` (generation/engine.py) owns what every request needs whatever the engine: admission
limits, the chat template, the context-window check, and turning tokens into streamed text. An engine
owns the model's batches. Two exist:

* ``ContinuousEngine`` (generation/continuous.py): transformers' continuous-batching manager, used on GPU;
* ``PaddedBatchEngine`` (generation/padded.py): a small left-padded batch decoder, used on CPU, where the
  manager's packed attention costs more than batching saves (see that module's docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from generation.types import GenerationParams


@dataclass(frozen=True)
class TokenEvent:
    """Progress of one request after an engine step."""

    request_id: str
    tokens: Sequence[int]  # every token generated so far, a stop token included
    finished: bool
    error: str | None = None


# Called by an engine, from any thread, with the events of one step (the prefill of a request is a step).
Deliver = Callable[[list[TokenEvent]], None]


class DecodeEngine(Protocol):
    """What ``LocalGenerator`` needs from a batch engine. ``add`` and ``cancel`` are called on the event loop."""

    name: str

    def start(self) -> None:
        """Blocking: allocate and start the engine."""
        ...

    def stop(self) -> None:
        """Blocking: drop every request (no further events) and release the engine."""
        ...

    def add(self, request_id: str, prompt_ids: list[int], params: GenerationParams) -> None:
        """Queue a request; its tokens arrive through ``Deliver``. Raises ``GenerationError`` if refused."""
        ...

    def cancel(self, request_id: str) -> None:
        """Drop a request (its caller went away); no-op when it already finished."""
        ...

    def is_running(self) -> bool:
        """False once the engine has stopped or died; waiting callers then fail instead of hanging."""
        ...
