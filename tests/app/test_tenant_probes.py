"""Random cross-tenant probes (tests/app/tenant_probes.py): tenant B never sees or touches tenant A's data."""

from __future__ import annotations

import pytest

from tests.app.conftest import BACKENDS, MakeClient
from tests.app.tenant_probes import API_KEYS, run_probes

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def test_tenant_b_never_reaches_tenant_a(make_client: MakeClient) -> None:
    with make_client(api_keys=API_KEYS, max_new_tokens=8, max_new_tokens_cap=16) as client:
        report = run_probes(client, 200, seed=3, ask_fraction=0.03)
    assert report.leaks == []
    assert report.a_chunks_returned == 0 and report.chunks_returned > 20, "B must get B's chunks, never A's"
    assert report.total >= 195
    assert report.probes["search"] > 50 and report.probes["get"] > 5 and report.probes["delete"] > 5
    assert report.a_documents == report.a_documents_after == 12
