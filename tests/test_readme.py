"""The README is a user's document: the two commands first, every setting, no lab notebook."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings
from app.settings_doc import REFERENCE, generated_table, settings_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SETTINGS_REFERENCE = REFERENCE.read_text()


def test_the_settings_reference_is_generated_from_the_settings_class() -> None:
    # On failure: python -m app.settings_doc --write
    assert generated_table(SETTINGS_REFERENCE) == settings_table()


def test_every_setting_is_described_and_in_the_reference() -> None:
    undescribed = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert undescribed == []
    missing = [name for name in Settings.model_fields if f"`RAG_{name.upper()}`" not in SETTINGS_REFERENCE]
    assert missing == []
    named = set(re.findall(r"`(RAG_[A-Z0-9_]+)`", README))
    unknown = {name for name in named if name.removeprefix("RAG_").lower() not in Settings.model_fields}
    assert unknown == set(), "the README names settings that do not exist"


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:600]
    assert "make serve" in head and "make test" in head


def test_readme_stays_short_and_its_links_resolve() -> None:
    assert len(README.splitlines()) <= 210, "measurements belong in docs/ or benchmarks/"
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target
