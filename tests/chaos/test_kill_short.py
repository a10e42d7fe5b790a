"""SIGKILL the real server while it ingests; every acknowledged document must survive each restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.kill import run_kill_test


def _assert_clean(report, kills: int) -> None:  # type: ignore[no-untyped-def]
    assert report.failures == []
    assert report.kills == kills
    assert report.acked > 0, "nothing was acknowledged, so nothing was tested"
    assert report.restarts_checked >= 1
    assert report.search_checks >= report.acked


def test_kill_restart_keeps_acknowledged_documents(tmp_path: Path) -> None:
    report = run_kill_test(5, tmp_path / "data", seed=1, max_delay_s=1.5, startup_kill_fraction=0.0)
    _assert_clean(report, 5)


@pytest.mark.slow
def test_kill_restart_long(tmp_path: Path) -> None:
    report = run_kill_test(200, tmp_path / "data", seed=2, max_delay_s=2.0)
    _assert_clean(report, 200)
