"""Schemathesis fuzzing of every operation in /openapi.json, in-process over ASGI, with an API key.

No generated request (valid or not) may get a 5xx, a status the schema does not document, a content
type it does not declare, or a body that breaks the declared response schema. Generation cost is capped
(``max_new_tokens`` 4) so /ask stays cheap. The default run sends a few hundred requests; the slow one
over a thousand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings

KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_schema(tmp_path: Path, encoder: Any, loaded_model: Any) -> Iterator[Any]:
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        index_dir=tmp_path / "data",
        index_save_interval_s=0.0,
        api_keys=f"{KEY}:fuzzer",
        max_new_tokens=4,
        max_new_tokens_cap=8,
        max_top_k=20,
        request_timeout_s=60,
    )
    app = create_app(s, load_in_background=False, encoder=encoder, loaded_model=loaded_model)
    # Starts the app's lifespan on schemathesis' event loop; requests then run on that same loop.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        client = asgi.get_client(app)  # type: ignore[arg-type]
        seed = client.post(
            "/ingest",
            files=[("files", ("seed.txt", b"The lighthouse keeper lit the lamp at dusk every evening.", "text/plain"))],
            headers=AUTH,
        )
        assert seed.status_code == 200, seed.text
        yield schema
    finally:
        asgi.shutdown_lifespans()


@dataclass
class FuzzResult:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def distinct_failures(self) -> list[str]:
        return sorted(set(self.failures))


def fuzz(schema: Any, examples_per_operation: int) -> FuzzResult:
    """Send every operation's generated cases through the checks; failures are collected, not raised."""
    result = FuzzResult()
    for op in schema.get_all_operations():
        _fuzz_operation(op.ok(), examples_per_operation, result)
    return result


def _strategy(operation: Any) -> Any:
    """Valid and invalid requests (wrong types, missing fields, out-of-range values) for one operation."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def _describe(operation: Any, case: Any, exc: BaseException) -> str:
    """One line per kind of failure: operation, exception type, first line of its message, and a curl."""
    text = " / ".join(str(e) for e in exc.exceptions) if isinstance(exc, FailureGroup) else str(exc)
    first = text.strip().splitlines()[0][:160] if text.strip() else ""
    try:
        curl = case.as_curl_command(headers=AUTH)
    except Exception:
        curl = ""
    return f"{operation.label}: {type(exc).__name__}: {first} || {curl[:300]}"


def _fuzz_operation(operation: Any, examples_per_operation: int, result: FuzzResult) -> None:
    @given(case=_strategy(operation))
    @settings(
        max_examples=examples_per_operation,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        result.counts["requests"] += 1
        result.counts[f"mode:{case.meta.generation.mode.value if case.meta else 'unknown'}"] += 1
        try:
            response = case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=120)
        except (Exception, FailureGroup) as exc:  # a failed check, or the app raised (a 500 over ASGI): keep fuzzing
            result.failures.append(_describe(operation, case, exc))
            result.counts[f"{operation.label} -> failed"] += 1
            return
        result.counts[f"{operation.label} -> {response.status_code}"] += 1

    run()


def _assert_fuzzed(result: FuzzResult, at_least: int) -> None:
    counts = result.counts
    print(dict(counts))
    for failure in result.distinct_failures():
        print("FUZZ FAILURE:", failure)
    assert result.distinct_failures() == []
    assert counts["requests"] >= at_least, counts
    assert not [k for k in counts if k.endswith(tuple(f"-> {s}" for s in range(500, 600)))], counts
    # Both accepted and rejected requests were exercised.
    assert any(k.endswith("-> 200") for k in counts) and any(k.endswith("-> 422") for k in counts), counts


def test_fuzz_api(fuzz_schema: Any) -> None:
    _assert_fuzzed(fuzz(fuzz_schema, 30), 200)


@pytest.mark.slow
def test_fuzz_api_long(fuzz_schema: Any) -> None:
    _assert_fuzzed(fuzz(fuzz_schema, 120), 1000)
