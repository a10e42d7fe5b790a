"""/openapi.json documents every route: request and response examples, and a description for every parameter."""

from __future__ import annotations

from typing import Any

import pytest

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The schema needs no models: build the app without starting it.
    settings = Settings(_env_file=None, index_dir=tmp_path_factory.mktemp("data"))  # type: ignore[call-arg]
    return create_app(settings).openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(spec, media.get("schema", {}))
    return bool(schema.get("examples") or schema.get("example"))


def _operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_route_has_request_and_response_examples(spec: dict[str, Any]) -> None:
    missing = []
    for name, op in _operations(spec):
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if not _has_example(spec, media):
                missing.append(f"{name}: request {media_type}")
        for status, response in op["responses"].items():
            content = response.get("content")
            if not content:
                missing.append(f"{name}: response {status} has no content")
            for media_type, media in (content or {}).items():
                if not _has_example(spec, media):
                    missing.append(f"{name}: response {status} {media_type}")
    assert not missing, "\n".join(missing)


def test_every_parameter_is_described_and_has_an_example(spec: dict[str, Any]) -> None:
    missing = [
        f"{name}: {param['in']} parameter {param['name']}"
        for name, op in _operations(spec)
        for param in op.get("parameters", [])
        if not param.get("description")
        or not (param.get("example") is not None or param.get("examples") or param.get("schema", {}).get("examples"))
    ]
    assert not missing, "\n".join(missing)


def test_every_route_has_a_summary_and_a_description(spec: dict[str, Any]) -> None:
    assert [name for name, op in _operations(spec) if not op.get("description")] == []


def test_the_checks_above_can_fail() -> None:
    bare = {"paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {}}}}}}}}}
    assert not _has_example(bare, bare["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"])
