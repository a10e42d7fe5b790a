"""Style: length by ``detail`` and register by ``tone``. Never changes facts or citation markers."""

from __future__ import annotations

import dataclasses
import re

from generation.adjustment.sentences import LEAD_IN_RE as _LEAD_IN_RE
from generation.adjustment.sentences import sentence_spans
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext

_FRIENDLY_OPENER_RE = re.compile(
    r"^\s*(?:(?:hey|hi|hello|hiya)(?:\s+there)?|sure thing|happy to help|great question|good question)\s*[!,.:]*\s*",
    re.IGNORECASE,
)
_EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f2ff\U0000fe0f\U0000200d]+", re.UNICODE
)
_CONTRACTIONS = {
    "can't": "cannot",
    "won't": "will not",
    "shan't": "shall not",
    "n't": " not",
    "'re": " are",
    "'ve": " have",
    "'ll": " will",
    "'d": " would",
    "'m": " am",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "here's": "here is",
    "what's": "what is",
    "who's": "who is",
    "let's": "let us",
    "he's": "he is",
    "she's": "she is",
}
_CONTRACTION_RE = re.compile(
    r"\b(can't|won't|shan't|it's|that's|there's|here's|what's|who's|let's|he's|she's)\b|(?<=\w)(n't|'re|'ve|'ll|'d|'m)\b",
    re.IGNORECASE,
)
_MARKERS_RE = re.compile(r"(?:\s*\[\d{1,3}\])+")
FRIENDLY_LEAD_IN = "Happy to help! "


def expand_contractions(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        word = m.group().replace("’", "'")
        full = _CONTRACTIONS.get(word.lower(), word)
        return full[0].upper() + full[1:] if word[0].isupper() else full

    return _CONTRACTION_RE.sub(repl, text.replace("’", "'"))


def to_phrase(text: str) -> str:
    """The answer phrase of a short answer: first sentence, lead-ins off, no trailing period or markers."""
    text = _LEAD_IN_RE.sub("", text.strip())
    spans = sentence_spans(text)
    if spans:
        text = text[spans[0][0] : spans[0][1]]
    text = _MARKERS_RE.sub("", text).strip()
    text = re.sub(r"[.!]+$", "", text).strip()
    return text[:1].upper() + text[1:] if text else text


def neutralize(text: str) -> str:
    text = _FRIENDLY_OPENER_RE.sub("", text)
    text = _EMOJI_RE.sub("", text)
    text = re.sub(r"!+", ".", text)
    text = re.sub(r"[ \t]+([,.;:?])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


class StyleStep:
    name = "style"

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        if state.abstained:
            return state
        text = state.answer
        labels = list(state.adjustments)

        def change(label: str, new: str) -> None:
            nonlocal text
            if new != text:
                labels.append(f"{self.name}:{label}")
                text = new

        if ctx.detail == "short":
            change("shortened", to_phrase(text))
        else:
            change("removed_lead_in", _capitalize(_LEAD_IN_RE.sub("", text)))
        if ctx.tone in ("formal", "neutral"):
            change("neutral_tone", _capitalize(neutralize(text)))
        if ctx.tone == "formal":
            change("formal_tone", expand_contractions(text))
        if ctx.tone == "friendly" and ctx.detail != "short" and text:
            change("friendly_tone", FRIENDLY_LEAD_IN + text)
        return dataclasses.replace(state, answer=text, adjustments=labels)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
