"""GET /documents/{id}/text: the text citations point into, scoped to the tenant, in ranges, under a size limit."""

from __future__ import annotations

import pytest

from app.errors import InvalidRequestError
from app.routes.documents import text_range
from tests.app.conftest import MakeClient, assert_error, upload

TEXT = (
    "The Lighthouse Museum opens at 9 am every day.\n\n"
    "The museum was founded in 1921 by Ada Bellamy, a retired sea captain.\n\n"
    "Tickets cost 12 euros for adults and are free for children."
)
KEYS = "key-alice:alice,key-bob:bob"


def test_text_range_rules() -> None:
    assert text_range(100, 0, None, 30) == (0, 30)
    assert text_range(100, 90, None, 30) == (90, 100)
    assert text_range(100, 10, 20, 30) == (10, 20)
    assert text_range(100, 95, 500, 30) == (95, 100)  # an end past the text stops there
    assert text_range(100, 100, None, 30) == (100, 100)
    for start, end in ((101, None), (20, 10), (0, 31)):
        with pytest.raises(InvalidRequestError):
            text_range(100, start, end, 30)


def test_whole_text_ranges_and_limits(make_client: MakeClient) -> None:
    with make_client(max_text_chars=60) as client:
        doc = upload(client, ("guide.txt", TEXT.encode())).json()["documents"][0]
        url = f"/documents/{doc['id']}/text"

        first = client.get(url).json()
        assert first == {
            "document_id": doc["id"],
            "source": "guide.txt",
            "start": 0,
            "end": 60,
            "characters": len(TEXT),
            "text": TEXT[:60],
        }
        # The next page starts where the last one ended.
        rest = client.get(url, params={"start": 60}).json()
        assert rest["start"] == 60 and rest["text"] == TEXT[60:120]

        ranged = client.get(url, params={"start": 50, "end": 90}).json()
        assert (ranged["start"], ranged["end"], ranged["text"]) == (50, 90, TEXT[50:90])
        tail = client.get(url, params={"start": len(TEXT) - 10, "end": len(TEXT) + 500}).json()
        assert tail["end"] == len(TEXT) and tail["text"] == TEXT[-10:]

        err = assert_error(client.get(url, params={"start": 0, "end": 61}), 422, "invalid_request")
        assert "at most 60" in err["message"]
        err = assert_error(client.get(url, params={"start": 40, "end": 30}), 422, "invalid_request")
        assert "before start" in err["message"]
        err = assert_error(client.get(url, params={"start": len(TEXT) + 1}), 422, "invalid_request")
        assert f"{len(TEXT)} characters" in err["message"]
        assert_error(client.get(url, params={"start": -1}), 422, "invalid_request")
        assert_error(client.get(url, params={"end": "x"}), 422, "invalid_request")
        assert_error(client.get("/documents/no-such-document/text"), 404, "document_not_found")


def test_text_is_scoped_to_the_tenant(make_client: MakeClient) -> None:
    with make_client(api_keys=KEYS) as client:
        doc = upload(client, ("guide.txt", TEXT.encode()), key="key-alice").json()["documents"][0]
        url = f"/documents/{doc['id']}/text"
        alice = client.get(url, headers={"Authorization": "Bearer key-alice"})
        assert alice.status_code == 200 and alice.json()["text"] == TEXT
        # Another tenant cannot tell the document exists; no key is refused.
        assert_error(client.get(url, headers={"Authorization": "Bearer key-bob"}), 404, "document_not_found")
        assert_error(client.get(url), 401, "unauthorized")


def test_a_citation_from_ask_is_the_text_routes_slice(make_client: MakeClient) -> None:
    with make_client() as client:
        upload(client, ("guide.txt", TEXT.encode()))
        body = client.post("/ask", json={"question": "Who founded the Lighthouse Museum?"}).json()
        assert body["citations"], body
        for c in body["citations"]:
            got = client.get(f"/documents/{c['document_id']}/text", params={"start": c["start"], "end": c["end"]})
            assert got.json()["text"] == c["text"]
