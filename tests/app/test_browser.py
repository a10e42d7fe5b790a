"""The web page in a real headless Chromium against the real server (real encoder and generator).

Needs Debian's ``chromium`` package (``apt-get install -y chromium``) at /usr/bin/chromium; skips without it.
Playwright drives that binary: Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The real service as a subprocess, as `make serve` runs it, on a fresh data folder."""
    proc = ServerProcess(tmp_path / "data", tmp_path / "server.log", {"RAG_API_KEYS": "", "RAG_RATE_LIMIT": ""})
    ok, why = proc.wait_ready(READY_TIMEOUT_S)
    if not ok:
        proc.stop()
        pytest.fail(f"{why}:\n{proc.log_tail()}")
    try:
        yield proc.url
    finally:
        proc.stop(timeout=20)


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

            page.goto(server + "/", wait_until="load")
            load_ms = page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd - n.startTime; }"
            )
            ready = page.get_by_test_id("ready")
            sync_api.expect(ready).to_have_text("ready")

            # Upload through the file input; the document shows up in the list.
            page.get_by_test_id("file-input").set_input_files(str(doc_path))
            page.get_by_test_id("upload-button").click()
            sync_api.expect(page.get_by_test_id("upload-result")).to_contain_text("zorblat.txt")
            doc_item = page.locator('[data-testid="doc-item"][data-source="zorblat.txt"]')
            sync_api.expect(doc_item).to_have_count(1)
            sync_api.expect(doc_item).to_contain_text("1 chunk")
            sync_api.expect(page.get_by_test_id("upload-progress")).to_have_attribute("value", "100")

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
            cite.click()
            panel = page.get_by_test_id("source-panel")
            sync_api.expect(panel).to_be_visible()
            sync_api.expect(page.get_by_test_id("source-file")).to_have_text("zorblat.txt")
            sync_api.expect(page.get_by_test_id("source-number")).to_have_text(f"[{number}]")
            quote = page.get_by_test_id("source-quote").inner_text()
            assert quote.strip(), "the source panel shows no quoted text"
            assert quote.strip() in DOCUMENT, quote
            sync_api.expect(page.locator('[data-testid="source-quote"] mark')).to_have_count(1)
            sync_api.expect(cite).to_have_class("cite active")

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
        finally:
            browser.close()

    figures = {
        "page_load_ms": round(load_ms, 1),
        "first_token_ms": round(timings["firstToken"] - timings["askStart"], 1),
        "final_answer_ms": round(timings["final"] - timings["askStart"], 1),
    }
    (tmp_path / "browser_timings.json").write_text(json.dumps(figures, indent=2))
    print(f"\nbrowser timings: {json.dumps(figures)}  (screenshot: {screenshot})")
