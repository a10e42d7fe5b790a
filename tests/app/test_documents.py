"""Ingest, list, get, delete and bad input over HTTP, with the real encoder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from fastapi.testclient import TestClient

from tests.app.conftest import BACKENDS, MakeClient, assert_error, upload

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

PARIS = b"Paris is the capital of France. It lies on the Seine.\n\nThe Eiffel Tower was finished in 1889."
TOKYO = b"Tokyo is the capital of Japan. Its metropolitan area is the most populous in the world."


def _docx_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    doc = DocxDocument()
    doc.add_paragraph(text)
    doc.save(buf)
    return buf.getvalue()


def test_ingest_then_list_get_delete(make_client: MakeClient) -> None:
    with make_client() as client:
        resp = upload(client, ("paris.txt", PARIS), ("tokyo.md", TOKYO), collection="cities")
        assert resp.status_code == 200, resp.text
        docs = resp.json()["documents"]
        assert [d["source"] for d in docs] == ["paris.txt", "tokyo.md"]
        assert all(d["chunks"] >= 1 and not d["deduplicated"] and d["collection"] == "cities" for d in docs)

        listing = client.get("/documents", params={"limit": 1}).json()
        assert listing["total"] == 2 and len(listing["documents"]) == 1

        doc_id = docs[0]["id"]
        assert client.get(f"/documents/{doc_id}").json()["source"] == "paris.txt"

        assert client.delete(f"/documents/{doc_id}").json() == {"deleted": doc_id}
        assert_error(client.get(f"/documents/{doc_id}"), 404, "document_not_found")
        for mode in ("dense", "bm25", "hybrid"):
            hits = client.post("/search", json={"query": "Eiffel Tower Paris", "retrieval_mode": mode}).json()
            assert all(h["document_id"] != doc_id for h in hits["results"]), mode


def test_same_bytes_are_deduplicated(client: TestClient) -> None:
    first = upload(client, ("a.txt", PARIS)).json()["documents"][0]
    again = upload(client, ("renamed.txt", PARIS)).json()["documents"][0]
    assert again["deduplicated"] is True and again["id"] == first["id"]
    assert client.get("/documents").json()["total"] == 1
    other_collection = upload(client, ("a.txt", PARIS), collection="other").json()["documents"][0]
    assert other_collection["deduplicated"] is False


def test_formats_docx_and_html(client: TestClient) -> None:
    html = (
        b"<html><head><script>var x='secret';</script></head>"
        b"<body><nav>Menu</nav><p>Ottawa is the capital of Canada.</p></body></html>"
    )
    resp = upload(client, ("c.html", html), ("d.docx", _docx_bytes("Canberra is the capital of Australia.")))
    assert resp.status_code == 200, resp.text
    hits = client.post("/search", json={"query": "capital of Canada", "top_k": 1}).json()["results"]
    assert hits[0]["source"] == "c.html" and "secret" not in hits[0]["text"] and "Menu" not in hits[0]["text"]


def test_bad_input_gets_4xx_and_changes_nothing(make_client: MakeClient, tmp_path: Path) -> None:
    with make_client(max_upload_bytes=50_000) as client:
        good = upload(client, ("paris.txt", PARIS)).json()["documents"][0]
        before = client.post("/search", json={"query": "capital of France"}).json()

        assert_error(upload(client, ("empty.txt", b"")), 422, "empty_document")
        assert_error(upload(client, ("blank.md", b"  \n\t ")), 422, "empty_document")
        assert_error(upload(client, ("tool.exe", b"MZ\x90\x00")), 415, "unsupported_media_type")
        assert_error(upload(client, ("broken.pdf", b"%PDF-1.7\n1 0 obj<<>>garbage")), 422)
        assert_error(upload(client, ("big.txt", b"a " * 40_000)), 413, "payload_too_large")
        # A bad file next to a good one stores neither.
        assert_error(upload(client, ("ok.txt", TOKYO), ("bad.exe", b"x")), 415)

        latin = upload(client, ("latin.txt", "Café crème à Zürich".encode("latin-1")))
        assert latin.status_code == 200, latin.text
        sneaky = upload(client, ("../../etc/passwd.txt", b"Nothing to see in this harmless note."))
        assert sneaky.status_code == 200
        assert sneaky.json()["documents"][0]["source"] == "passwd.txt"

        listing = client.get("/documents").json()
        assert listing["total"] == 3
        assert good["id"] in {d["id"] for d in listing["documents"]}
        assert client.post("/search", json={"query": "capital of France"}).json()["results"][0] == before["results"][0]
    # Nothing was written outside the data folder.
    assert {p.name for p in tmp_path.iterdir()} <= {"data"}
    assert not (tmp_path / "etc").exists()


def test_malformed_requests(client: TestClient) -> None:
    assert_error(client.post("/ingest"), 422, "invalid_request")
    assert_error(client.post("/search", json={"query": ""}), 422, "invalid_request")
    assert_error(client.post("/search", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert_error(client.post("/search", json={"query": "x", "retrieval_mode": "magic"}), 422)
    assert_error(client.get("/documents/does-not-exist"), 404, "document_not_found")
    assert_error(client.get("/documents", params={"limit": 0}), 422)
    assert_error(client.get("/no-such-route"), 404, "not_found")


def test_a_bad_file_in_a_batch_is_named_and_nothing_is_stored(client: TestClient) -> None:
    """The rule is all or nothing: one refused file stores none of the request's files, and the error names it."""
    kept = upload(client, ("paris.txt", PARIS)).json()["documents"][0]
    fake_pdf = b"This is a plain text file that was renamed to .pdf."
    err = assert_error(upload(client, ("tokyo.md", TOKYO), ("scan.pdf", fake_pdf)), 422, "corrupt_document")
    assert err["message"].startswith("scan.pdf: ") and "PDF" in err["message"], err
    err = assert_error(upload(client, ("tokyo.md", TOKYO), ("notes.txt", b"")), 422, "empty_document")
    assert err["message"].startswith("notes.txt: "), err
    err = assert_error(upload(client, ("tokyo.md", TOKYO), ("tool.exe", b"MZ")), 415, "unsupported_media_type")
    assert err["message"].startswith("tool.exe: "), err
    # Nothing from the refused batches was stored, and what was stored before is still there.
    assert [d["id"] for d in client.get("/documents").json()["documents"]] == [kept["id"]]
    assert upload(client, ("tokyo.md", TOKYO)).json()["documents"][0]["deduplicated"] is False


def test_malformed_json_names_the_position(client: TestClient) -> None:
    body = b'{"question": "Who?",\n "detail": }'
    err = assert_error(client.post("/ask", content=body, headers={"content-type": "application/json"}), 422)
    assert err["code"] == "invalid_request"
    assert err["message"] == "the body is not valid JSON: Expecting value at line 2, column 12 (character 32)", err
