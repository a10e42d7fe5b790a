"""Settings: typed lists from JSON or comma-separated environment values, and clear errors at start-up."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from app.settings import AdjustmentName, Settings
from generation.adjustment.pipeline import DEFAULT_ORDER


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"RAG_{name.upper()}", value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_adjustment_names_are_the_pipelines_steps() -> None:
    assert get_args(AdjustmentName) == DEFAULT_ORDER
    assert Settings.model_fields["adjustments"].default == list(DEFAULT_ORDER)


@pytest.mark.parametrize("value", ["correct, citations", '["correct", "citations"]'])
def test_adjustments_read_from_json_or_comma_separated(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert settings(monkeypatch, adjustments=value).adjustments == ["correct", "citations"]


def test_an_unknown_adjustment_name_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as info:
        settings(monkeypatch, adjustments="correct,abstian")
    message = str(info.value)
    assert "adjustments" in message and "abstian" in message and "'abstain'" in message


def test_blocked_terms_and_patterns_are_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, blocked_terms="secret, Project X", blocked_patterns=r'["ID-\\d+", "a,b;;c"]')
    assert s.blocked_terms == ["secret", "Project X"]
    assert s.blocked_patterns == [r"ID-\d+", "a,b;;c"]


def test_an_invalid_blocked_pattern_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        settings(monkeypatch, blocked_patterns='["(unclosed"]')


@pytest.mark.parametrize("value", ["k1:alpha, k2:beta", '{"k1": "alpha", "k2": "beta"}'])
def test_api_keys_read_from_pairs_or_json(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert settings(monkeypatch, api_keys=value).api_keys == {"k1": "alpha", "k2": "beta"}


def test_an_api_key_without_a_tenant_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="is not 'key:tenant'"):
        settings(monkeypatch, api_keys="k1:alpha,k2")


def test_empty_values_mean_empty_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch, blocked_terms="", api_keys="")
    assert s.blocked_terms == [] and s.api_keys == {}
