"""Content rules: blocked terms and patterns, PII redaction, and payloads of injected instructions."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import phonenumbers
from stdnum import luhn

from generation.adjustment.injection import instruction_sentences
from generation.adjustment.sentences import sentence_spans
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext
from generation.types import Passage

BLOCKED = "[blocked]"
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# Card candidates: 13-19 digits, optionally grouped by single spaces or dashes; the Luhn check decides.
_CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Numbers written without a country code are read as numbers of these regions.
PHONE_REGIONS = ("US", "GB")
_GROUPING = frozenset(" -.()")
# What an injected instruction asks the model to say: a quoted string or an all-caps word (not a label
# such as "SYSTEM:" or "NOTE:").
_PAYLOAD_RE = re.compile(r"[\"“']([^\"”'\n]{2,60})[\"”']|\b([A-Z][A-Z0-9_]{3,})\b(?!\s*:)")


def phone_spans(text: str, regions: Sequence[str] = PHONE_REGIONS) -> list[tuple[int, int]]:
    """(start, end) of each phone number in ``text``, in order, not overlapping.

    libphonenumber finds the candidates and skips dates, times and page ranges. A candidate counts when it
    is a valid number of its region, or when it is written in full North American style
    ("(555) 123-4567", "1-555-123-4567"), which covers the fictional 555 numbers that are not valid
    anywhere. Section numbers ("4.1"), versions ("v2.3.1") and counts ("16 weeks") are neither.
    """
    spans: set[tuple[int, int]] = set()
    for region in regions:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if phonenumbers.is_valid_number(m.number) or _north_american_style(m):
                spans.add((m.start, m.end))
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


def _north_american_style(m: phonenumbers.PhoneNumberMatch) -> bool:
    return (
        m.number.country_code == 1
        and len(str(m.number.national_number)) == 10
        and any(ch in _GROUPING for ch in m.raw_string)
    )


def redact_pii(text: str, phone_regions: Sequence[str] = PHONE_REGIONS) -> tuple[str, list[str]]:
    """Mask emails, payment card numbers (Luhn-checked) and phone numbers; returns the kinds found."""
    found: list[str] = []

    def email(m: re.Match[str]) -> str:
        found.append("email")
        return "[redacted email]"

    def card(m: re.Match[str]) -> str:
        if not luhn.is_valid(re.sub(r"\D", "", m.group())):
            return m.group()
        found.append("card")
        return "[redacted card number]"

    text = _CARD_RE.sub(card, _EMAIL_RE.sub(email, text))
    parts: list[str] = []
    last = 0
    for start, end in phone_spans(text, phone_regions):
        parts += [text[last:start], "[redacted phone]"]
        found.append("phone")
        last = end
    return "".join([*parts, text[last:]]), found


def compile_rules(terms: Sequence[str], patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Blocked terms as case-insensitive whole words, then the regexes; a bad regex raises ValueError."""
    compiled = [re.compile(rf"(?<!\w){re.escape(t.strip())}(?!\w)", re.IGNORECASE) for t in terms if t.strip()]
    for p in patterns:
        try:
            compiled.append(re.compile(p))
        except re.error as exc:
            raise ValueError(f"invalid blocked pattern {p!r}: {exc}") from exc
    return compiled


def injected_payloads(passages: Sequence[Passage], question: str) -> set[str]:
    """Strings that instruction-like passage text asks the model to output (and the question doesn't mention)."""
    payloads: set[str] = set()
    for p in passages:
        for start, end in instruction_sentences(p.text):
            sentence = p.text[start:end]
            for m in _PAYLOAD_RE.finditer(sentence):
                value = (m.group(1) or m.group(2)).strip()
                if value and value.lower() not in question.lower():
                    payloads.add(value)
    return payloads


class ContentRulesStep:
    name = "content_rules"

    def __init__(
        self, blocked_terms: Sequence[str] = (), blocked_patterns: Sequence[str] = (), redact_pii: bool = True
    ) -> None:
        self._rules = compile_rules(blocked_terms, blocked_patterns)
        self._redact = redact_pii

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        text, labels, injection = state.answer, list(state.adjustments), state.injection
        payloads = injected_payloads(ctx.passages, ctx.question)
        if payloads:
            # Whole words, any case: a model that obeys may change the case of what it was told to say.
            found = re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in sorted(payloads)), re.IGNORECASE)
            kept = [text[s:e] for s, e in sentence_spans(text) if not found.search(text[s:e])]
            new = " ".join(kept)
            if new != text:
                text = new
                labels.append(f"{self.name}:removed_injected_output")
                injection = tuple(sorted(payloads))
        masked = text
        for rule in self._rules:
            masked = rule.sub(lambda m: BLOCKED if m.group() else m.group(), masked)
        if masked != text:
            labels.append(f"{self.name}:masked_blocked")
            text = masked
        if self._redact:
            text, kinds = redact_pii(text)
            labels.extend(f"{self.name}:redacted_{k}" for k in dict.fromkeys(kinds))
        return dataclasses.replace(state, answer=text, adjustments=labels, injection=injection)
