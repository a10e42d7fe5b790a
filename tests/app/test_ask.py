"""/ask and /feedback over HTTP with the real default encoder and generator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import BACKENDS, MakeClient, assert_error, upload

FACTS = (
    "guide.txt",
    b"The Lighthouse Museum opens at 9 am every day.\n\n"
    b"The museum was founded in 1921 by Ada Bellamy, a retired sea captain.\n\n"
    b"Tickets cost 12 euros for adults and are free for children.",
)


def _sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of each event; comment-only blocks (keep-alive pings) are skipped."""
    events = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def _streamed_text(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(str(data["delta"]) for event, data in events if event == "token")


def test_ask_answers_with_exact_citations(client: TestClient) -> None:
    # A question the default model answers (greedy decoding is deterministic), so citations are always checked.
    upload(client, FACTS)
    resp = client.post("/ask", json={"question": "When does the museum open?", "max_new_tokens": 24})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["answer"].strip()
    assert body["passages"] and body["passages"][0]["source"] == "guide.txt"
    assert set(body["timings"]) == {"retrieval_ms", "generation_ms", "adjust_ms"}
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    assert "correct" in body["adjustments"]
    assert body["abstained"] is False, body
    assert "9 am" in body["answer"]
    doc_text = FACTS[1].decode()
    assert body["citations"], body
    for c in body["citations"]:
        assert c["source"] == "guide.txt"
        assert doc_text[c["start"] : c["end"]] == c["text"]
    assert any("9 am" in c["text"] for c in body["citations"])


def test_ask_streams_progress_then_the_adjusted_answer(client: TestClient) -> None:
    upload(client, FACTS)
    resp = client.post("/ask", json={"question": "When does the museum open?", "stream": True, "max_new_tokens": 16})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(resp.text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "final" and kinds.count("final") == 1
    stages = [data["stage"] for event, data in events if event == "status"]
    assert stages == ["retrieving", "generating", "checking"]
    assert kinds.index("token") > kinds.index("status") + 2  # no text before the answer is checked
    final = events[-1][1]
    # What was streamed is what was answered: the adjusted text, not the model's draft.
    assert final["answer"] and _streamed_text(events) == final["answer"]
    assert {
        "answer_id",
        "answer",
        "abstained",
        "citations",
        "passages",
        "adjustments",
        "timings",
        "usage",
    } <= set(final)


def test_ask_with_no_documents_abstains(client: TestClient) -> None:
    body = client.post("/ask", json={"question": "What is the boiling point of mercury?"}).json()
    assert body["abstained"] is True and body["passages"] == []


def test_an_abstention_streams_the_abstention_not_the_draft(client: TestClient) -> None:
    body = {"question": "What is the boiling point of mercury?", "stream": True, "max_new_tokens": 8}
    resp = client.post("/ask", json=body)
    events = _sse_events(resp.text)
    final = events[-1][1]
    assert events[-1][0] == "final" and final["abstained"] is True
    assert _streamed_text(events) == final["answer"] == "The documents don't say."


def test_adjustment_steps_switch_per_request(client: TestClient) -> None:
    upload(client, FACTS)
    body = client.post(
        "/ask",
        json={
            "question": "How much are adult tickets?",
            "max_new_tokens": 16,
            "adjustments": {"citations": False, "abstain": False},
        },
    ).json()
    assert "citations" not in body["adjustments"] and "abstain" not in body["adjustments"]


def test_bad_ask_requests_get_clear_4xx(make_client: MakeClient) -> None:
    with make_client(max_question_chars=100, max_new_tokens_cap=64) as client:
        assert_error(client.post("/ask", json={"question": ""}), 422, "invalid_request")
        assert_error(client.post("/ask", json={"question": "   "}), 422, "invalid_request")
        assert_error(client.post("/ask", json={"question": "why " * 50}), 422, "invalid_request")
        assert_error(client.post("/ask", json={"question": "ok?", "max_new_tokens": 65}), 422, "invalid_request")
        assert_error(client.post("/ask", json={"question": "ok?", "detail": "verbose"}), 422)
        assert_error(client.post("/ask", json={"question": "ok?", "surprise": 1}), 422)


def test_request_timeout_is_504(make_client: MakeClient) -> None:
    with make_client(request_timeout_s=0.001) as client:
        upload(client, FACTS)
        assert_error(client.post("/ask", json={"question": "Who founded the museum?"}), 504, "timeout")
        # The stream runs under the same deadline, retrieval and adjustment included; its 200 has gone out.
        events = _sse_events(client.post("/ask", json={"question": "Who founded it?", "stream": True}).text)
        assert [e for e, _ in events if e != "status"] == ["error"]
        assert events[-1][1]["error"]["code"] == "timeout" and events[-1][1]["error"]["status"] == 504


@pytest.mark.parametrize("backend", BACKENDS)
def test_feedback_shifts_collection_default_detail(make_client: MakeClient) -> None:
    with make_client(feedback_min_votes=2) as client:
        upload(client, FACTS)
        ids = [
            client.post("/ask", json={"question": q, "max_new_tokens": 8}).json()["answer_id"]
            for q in ("When does it open?", "Who founded it?")
        ]
        first = client.post("/feedback", json={"answer_id": ids[0], "rating": 1, "preferred_detail": "short"})
        assert first.status_code == 200 and first.json()["defaults_changed"] is False
        second = client.post("/feedback", json={"answer_id": ids[1], "rating": 1, "preferred_detail": "short"}).json()
        assert second["defaults_changed"] is True and second["collection_defaults"]["detail"] == "short"
        after = client.post("/ask", json={"question": "How much are tickets?", "max_new_tokens": 8}).json()
        assert after["detail"] == "short" and after["defaults_from_feedback"] is True
        assert_error(client.post("/feedback", json={"answer_id": "nope", "rating": 1}), 404)
        assert_error(client.post("/feedback", json={"answer_id": ids[0], "rating": 5}), 422)
