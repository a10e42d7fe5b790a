"""Content rules: blocked terms and patterns, PII redaction, and payloads of injected instructions."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from generation.adjustment.injection import instruction_sentences
from generation.adjustment.sentences import sentence_spans
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext
from generation.types import Passage

BLOCKED = "[blocked]"
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 13-19 digits, optionally grouped by single spaces or dashes; confirmed with the Luhn check.
_CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE_RES = (
    # International: +CC then 6-14 more digits in groups.
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\d-])"),
    # US style: (555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567.
    re.compile(r"(?<![\w-])(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\d-])"),
)
# What an injected instruction asks the model to say: a quoted string or an all-caps word (not a label
# such as "SYSTEM:" or "NOTE:").
_PAYLOAD_RE = re.compile(r"[\"“']([^\"”'\n]{2,60})[\"”']|\b([A-Z][A-Z0-9_]{3,})\b(?!\s*:)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact_pii(text: str) -> tuple[str, list[str]]:
    """Mask emails, payment card numbers (Luhn-checked) and phone numbers; returns the kinds found."""
    found: list[str] = []

    def sub(pattern: re.Pattern[str], label: str, kind: str, s: str, check: bool = False) -> str:
        def repl(m: re.Match[str]) -> str:
            if check and not luhn_valid(re.sub(r"\D", "", m.group())):
                return m.group()
            found.append(kind)
            return label

        return pattern.sub(repl, s)

    text = sub(_EMAIL_RE, "[redacted email]", "email", text)
    text = sub(_CARD_RE, "[redacted card number]", "card", text, check=True)
    for pattern in _PHONE_RES:
        text = sub(pattern, "[redacted phone]", "phone", text)
    return text, found


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
