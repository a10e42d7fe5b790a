"""The web page and /docs in a real headless Chromium against the real server (real encoder and generator).

Every request that leaves the server's origin is refused, as on a machine with no network.

Needs Debian's ``chromium`` package (``apt-get install -y chromium``) at /usr/bin/chromium; skips without it.
Playwright drives that binary: Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.testing import ServerProcess

CHROMIUM = Path(os.environ.get("RAG_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_TIMEOUT_S = 600.0  # model loading is slow on a busy 2-core machine
STEP_TIMEOUT_MS = 120_000

DOCUMENT = (
    "The Zorblat lighthouse on Kelvin Island was built in 1887 by the engineer Marta Quill.\n\n"
    "Its lamp can be seen from 22 nautical miles away. The keeper, Tomas Brenn, lived there for thirty years.\n"
)
QUESTION = "Who built the Zorblat lighthouse?"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no Chromium at {CHROMIUM}: install Debian's package with `apt-get install -y chromium`",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service as a subprocess, as `make serve` runs it, on a fresh data folder (one for this module)."""
    tmp_path = tmp_path_factory.mktemp("server")
    proc = ServerProcess(tmp_path / "data", tmp_path / "server.log", {"RAG_API_KEYS": "", "RAG_RATE_LIMIT": ""})
    ok, why = proc.wait_ready(READY_TIMEOUT_S)
    if not ok:
        proc.stop()
        pytest.fail(f"{why}:\n{proc.log_tail()}")
    try:
        yield proc.url
    finally:
        proc.stop(timeout=20)


def _only_own_origin(page: Any, server: str) -> list[str]:
    """Refuse every request that leaves the server's origin (as with no network); returns what was refused."""
    refused: list[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith(server + "/") or url.startswith("data:"):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", handle)
    return refused


def test_docs_page_renders_offline(server: str) -> None:
    """/docs loads Swagger UI from the service itself: with every other host refused, the routes still show."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            outside = _only_own_origin(page, server)
            page.goto(server + "/docs", wait_until="load")
            routes = page.locator(".opblock-summary-path")
            sync_api.expect(routes.first).to_be_visible()
            shown = set(routes.all_text_contents())
            paths = set(httpx.get(f"{server}/openapi.json", timeout=60).json()["paths"])
            assert {p.replace("\u200b", "") for p in shown} >= paths - {"/"}, shown
            assert "/documents/{document_id}/text" in {p.replace("\u200b", "") for p in shown}
            assert not outside and not errors, (outside, errors)
        finally:
            browser.close()


def test_upload_ask_stream_and_check_a_citation(server: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    doc_path = tmp_path / "zorblat.txt"
    doc_path.write_text(DOCUMENT, encoding="utf-8")

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)  # CPU generation on a busy machine is slow
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("dialog", lambda d: d.accept())  # the delete confirmation
            outside = _only_own_origin(page, server)

            page.goto(server + "/", wait_until="load")
            load_ms = page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd - n.startTime; }"
            )
            ready = page.get_by_test_id("ready")
            sync_api.expect(ready).to_have_text("ready")
            # With no documents the page says what to do first.
            hint = page.get_by_test_id("answers-empty")
            sync_api.expect(hint).to_be_visible()

            # Upload through the file input; the document shows up in the list.
            page.get_by_test_id("file-input").set_input_files(str(doc_path))
            page.get_by_test_id("upload-button").click()
            sync_api.expect(page.get_by_test_id("upload-result")).to_contain_text("zorblat.txt")
            doc_item = page.locator('[data-testid="doc-item"][data-source="zorblat.txt"]')
            sync_api.expect(doc_item).to_have_count(1)
            sync_api.expect(doc_item).to_contain_text("1 chunk")
            sync_api.expect(page.get_by_test_id("upload-progress")).to_have_attribute("value", "100")
            sync_api.expect(hint).to_be_hidden()  # documents exist: the hint goes

            # Ask with streaming and wait for the adjusted final answer.
            page.get_by_test_id("question").fill(QUESTION)
            page.get_by_test_id("detail").select_option("normal")
            page.get_by_test_id("tone").select_option("neutral")
            page.get_by_test_id("ask-button").click()
            answer = page.get_by_test_id("answer").first
            sync_api.expect(answer.get_by_test_id("answer-state")).to_have_text("answered")
            timings: dict[str, Any] = page.evaluate("() => window.__ragTimings")
            assert timings["firstToken"] is not None, "no token event reached the page before the final answer"
            assert timings["askStart"] <= timings["firstToken"] <= timings["final"]
            answer_text = answer.get_by_test_id("answer-text").inner_text()
            assert "Quill" in answer_text, answer_text

            # Click the first citation marker: the exact quoted source text shows, with its file name.
            cite = answer.get_by_test_id("cite-link").first
            number = cite.get_attribute("data-cite")
            with page.expect_response(lambda r: "/text?" in r.url) as text_response:
                cite.click()
            assert text_response.value.status == 200, text_response.value.text()
            panel = page.get_by_test_id("source-panel")
            sync_api.expect(panel).to_be_visible()
            sync_api.expect(page.get_by_test_id("source-file")).to_have_text("zorblat.txt")
            sync_api.expect(page.get_by_test_id("source-number")).to_have_text(f"[{number}]")
            quote = page.get_by_test_id("source-quote").inner_text()
            assert quote.strip(), "the source panel shows no quoted text"
            assert quote.strip() in DOCUMENT, quote
            sync_api.expect(page.locator('[data-testid="source-quote"] mark')).to_have_count(1)
            sync_api.expect(cite).to_have_class("cite active")
            # The source text around the quote, fetched from the document through the text route.
            context = page.get_by_test_id("source-context")
            sync_api.expect(context).to_have_attribute("data-origin", "document")
            sync_api.expect(page.get_by_test_id("source-context-mark")).to_have_text(quote.strip())
            around = (context.text_content() or "").strip("…")
            assert quote.strip() in around and around in DOCUMENT and len(around) > len(quote.strip()), around
            sync_api.expect(page.get_by_test_id("source-context-note")).to_contain_text("zorblat.txt")

            # Thumbs up is recorded.
            answer.get_by_test_id("thumb-up").click()
            sync_api.expect(answer.get_by_test_id("feedback-note")).to_contain_text("recorded")

            screenshot = tmp_path / "page.png"
            page.screenshot(path=screenshot, full_page=True)
            assert screenshot.stat().st_size > 10_000

            # Delete (the confirmation is accepted) empties the list.
            doc_item.get_by_test_id("delete-doc").click()
            sync_api.expect(doc_item).to_have_count(0)
            sync_api.expect(page.get_by_test_id("docs-message")).to_contain_text("Deleted")

            assert not console_errors, console_errors
            assert not outside, outside
        finally:
            browser.close()

    figures = {
        "page_load_ms": round(load_ms, 1),
        "first_token_ms": round(timings["firstToken"] - timings["askStart"], 1),
        "final_answer_ms": round(timings["final"] - timings["askStart"], 1),
    }
    (tmp_path / "browser_timings.json").write_text(json.dumps(figures, indent=2))
    print(f"\nbrowser timings: {json.dumps(figures)}  (screenshot: {screenshot})")
