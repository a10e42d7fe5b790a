"""transformers' continuous-batching manager (``init_continuous_batching``) as a ``DecodeEngine``.

A long-lived manager whose background thread admits new requests at every decode step. It is the engine
for GPUs, where its varlen attention kernels and CUDA graphs pay off. benchmarks/generation_batching.py
checked that its greedy output is token-for-token the same as plain ``generate``. What it lacks we add:

* sampling: the manager's ``do_sample`` is fixed per manager, so greedy requests go to one manager and
  sampled ones to a second, lazily started one with per-request temperature and top-p.
  ``repetition_penalty`` has no per-request form in the engine and is ignored (documented limitation);
* a clean unregister of a cancelled request's result handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from generation.decoding import Deliver, TokenEvent
from generation.errors import GenerationError
from generation.model import LoadedModel
from generation.types import GenerationParams


class ContinuousEngine:
    name = "continuous"

    def __init__(
        self,
        loaded: LoadedModel,
        deliver: Deliver,
        *,
        max_batch_size: int,
        eos_ids: Iterable[int],
        kv_cache_tokens: int,
    ) -> None:
        """
        Args:
            loaded: the model and tokenizer.
            deliver: where token events go.
            max_batch_size: most requests decoded together in one step.
            eos_ids: tokens that end a request.
            kv_cache_tokens: KV-cache size per manager, in tokens.
        """
        self.loaded = loaded
        self.deliver = deliver
        self.max_batch_size = max_batch_size
        self.eos_ids = sorted(eos_ids)
        self.kv_cache_tokens = kv_cache_tokens
        self._greedy: Any = None
        self._sampling: Any = None
        self._manager_of: dict[str, Any] = {}

    def start(self) -> None:
        if self._greedy is None:
            self._greedy = self._start_manager(sampling=False)

    def stop(self) -> None:
        for request_id in list(self._manager_of):
            self.cancel(request_id)
        managers = [m for m in (self._greedy, self._sampling) if m is not None]
        self._greedy = self._sampling = None
        for manager in managers:
            manager.stop(block=True, timeout=60)

    def is_running(self) -> bool:
        return all(m.is_running() for m in (self._greedy, self._sampling) if m is not None) and self._greedy is not None

    def add(self, request_id: str, prompt_ids: list[int], params: GenerationParams) -> None:
        manager = self._manager_for(params)
        # Register before adding, so no output can reach the engine's shared queue instead of us. The
        # manager calls the handler on the event loop that registered it.
        manager.register_result_handler(request_id, self._on_output)
        kwargs: dict[str, Any] = {}
        if not params.greedy:
            kwargs = {"temperature": float(params.temperature), "top_p": float(params.top_p)}
        added = manager.add_request(
            prompt_ids, request_id=request_id, max_new_tokens=params.max_new_tokens, streaming=True, **kwargs
        )
        if added is None:
            self._drop_handler(manager, request_id)
            raise GenerationError("the generation engine is not accepting requests")
        self._manager_of[request_id] = manager

    def cancel(self, request_id: str) -> None:
        manager = self._manager_of.pop(request_id, None)
        if manager is not None:
            manager.cancel_request(request_id)
            self._drop_handler(manager, request_id)

    # --- internals ---------------------------------------------------------------------

    def _on_output(self, output: Any) -> None:
        finished = output.is_finished() or output.error is not None
        if finished:
            self._manager_of.pop(output.request_id, None)
        error = None if output.error is None else str(output.error)
        self.deliver([TokenEvent(output.request_id, list(output.generated_tokens), finished, error)])

    def _start_manager(self, sampling: bool) -> Any:
        """Blocking: builds and starts one continuous-batching manager."""
        from transformers import ContinuousBatchingConfig, GenerationConfig

        page = 256
        gen_kwargs: dict[str, Any] = {"do_sample": False}
        if sampling:
            # Non-default values make the engine create the temperature/top-p processors, which then
            # take each request's own value.
            gen_kwargs = {"do_sample": True, "temperature": 0.7, "top_p": 0.95}
        gen_config = GenerationConfig(
            max_new_tokens=128,
            eos_token_id=self.eos_ids or None,
            pad_token_id=self.loaded.tokenizer.pad_token_id,
            **gen_kwargs,
        )
        cb_config = ContinuousBatchingConfig(
            page_size=page,
            # Sized explicitly: by default the engine takes a share of free memory, most of the RAM on a CPU.
            num_blocks=-(-self.kv_cache_tokens // page),
            max_batch_tokens=4096 if self.loaded.device.startswith("cuda") else 2048,
            max_requests_per_batch=self.max_batch_size,
            auto_switch_to_flash=False,  # both managers share the model: keep its attention as loaded
            per_request_processors=sampling,
        )
        manager = self.loaded.model.init_continuous_batching(
            generation_config=gen_config, continuous_batching_config=cb_config
        )
        manager.start()
        return manager

    def _manager_for(self, params: GenerationParams) -> Any:
        if self._greedy is None:
            raise GenerationError("the generation engine is not started")
        if params.greedy:
            return self._greedy
        if self._sampling is None:
            # Cheap: the engine allocates its cache on its own thread.
            self._sampling = self._start_manager(sampling=True)
        return self._sampling

    @staticmethod
    def _drop_handler(manager: Any, request_id: str) -> None:
        router = manager.output_router  # the engine has no public unregister
        with router._lock:
            router.result_handlers.pop(request_id, None)
