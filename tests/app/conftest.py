"""HTTP-level fixtures: a real app (real encoder and generator, shared per session) on a fresh data folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

MakeClient = Callable[..., AbstractContextManager[TestClient]]

BACKENDS = ["embedded", "postgres"]
"""A module runs its tests on both back ends with ``pytestmark = pytest.mark.parametrize("backend", BACKENDS)``."""


@pytest.fixture
def backend() -> str:
    """The back end ``make_client`` starts the app on; parametrize ``backend`` to change it."""
    return "embedded"


@pytest.fixture
def make_client(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    encoder: Any,
    loaded_model: Any,
    grounding_reader: Any,
    backend: str,
) -> MakeClient:
    """Start the app with settings overrides; the same data folder (or database) survives restarts within a test."""
    if backend == "postgres":
        database: dict[str, Any] = {
            "database_url": request.getfixturevalue("postgres_url"),
            "database_start_timeout_s": 5.0,
        }
    else:
        database = {}

    @contextmanager
    def _make(**overrides: Any) -> Iterator[TestClient]:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, index_dir=tmp_path / "data", index_save_interval_s=0.0, **{**database, **overrides}
        )
        app = create_app(
            settings,
            load_in_background=False,
            encoder=encoder,
            loaded_model=loaded_model,
            grounding_reader=grounding_reader,
        )
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    return _make


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    with make_client() as c:
        yield c


def upload(client: TestClient, *files: tuple[str, bytes], collection: str | None = None, key: str | None = None) -> Any:
    data = {"collection": collection} if collection else {}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/ingest", files=[("files", f) for f in files], data=data, headers=headers)


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Every error has one JSON shape and never a stack trace."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"code", "message", "request_id"} <= set(err)
    assert err["message"] and "Traceback" not in err["message"]
    assert err["request_id"] == resp.headers["x-request-id"]
    if code is not None:
        assert err["code"] == code, err
    return err


@contextmanager
def running_server(settings: Settings, encoder: Any, loaded_model: Any) -> Iterator[str]:
    """The app served by uvicorn on a free local port in a thread (shares the session's models); yields its URL."""
    import threading

    import uvicorn

    app = create_app(settings, load_in_background=False, encoder=encoder, loaded_model=loaded_model)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped during start-up")
            thread.join(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
