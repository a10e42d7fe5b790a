"""The README documents every setting and every route."""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in Settings.model_fields if f"`RAG_{name.upper()}`" not in README]
    assert missing == []


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:600]
    assert "make serve" in head and "make test" in head
