"""Error correction: undo the usual ways a small model's raw output goes wrong.

Chat-template tokens and role prefixes, an echoed prompt, repeated sentences and generation loops, a
last sentence cut off by the token limit, odd citation markers. Each fix that changes something is
recorded as ``correct:<what>`` in ``adjustments``.
"""

from __future__ import annotations

import dataclasses
import re

from generation.adjustment.sentences import LEAD_IN_RE, normalize_phrase, sentence_spans
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext
from generation.prompt import PASSAGE_HEADER_RE

# A token that ends the model's turn: whatever follows it is a new turn the model made up.
_END_TOKENS_RE = re.compile(
    r"<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\|end\|>|</s>|<\|im_start\|>\s*(?:user|system)\b"
)
_TEMPLATE_TOKENS_RE = re.compile(
    r"<\|im_start\|>\s*(?:assistant)?|<\|[a-z_]{1,30}\|>|<s>|</s>|\[/?INST\]|<<\/?SYS>>|<\|start_header_id\|>.*?<\|end_header_id\|>",
    re.IGNORECASE,
)
_ROLE_PREFIX_RE = re.compile(
    r"^\s*(?:#{1,4}\s*)?(?:assistant|ai|bot|answer|response|a|final answer)\s*:\s*", re.IGNORECASE
)
_SCAFFOLD_LINE_RE = re.compile(
    r"^\s*(?:(?:passage|source|document|context)\s*\[?\d*\]?\s*(?:\([^)]*\))?\s*:|question\s*:|passages\s*:|\[\d+\]\s*\(?[\w.-]+\.(?:txt|md|pdf|html?|docx)\b)",
    re.IGNORECASE,
)
_ANSWER_LABEL_RE = re.compile(r"(?:^|\n)\s*(?:answer|response)\s*:\s*", re.IGNORECASE)
# The same phrase three or more times in a row: a generation loop.
_LOOP_RE = re.compile(r"(\b\S(?:.{0,80}?\S)?)(?:[\s,;]+\1\b){2,}", re.DOTALL | re.IGNORECASE)
_TERMINAL_RE = re.compile(r"[.!?…][\"'”’)\]]*(?:\s*\[\d{1,3}\])*\s*$")
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")

# Citation marker spellings, normalised to "[n]".
_MULTI_MARKER_RE = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:,|;|and|&)\s*\d{1,3})+)\s*\]")
_RANGE_MARKER_RE = re.compile(r"\[\s*(\d{1,3})\s*[-–]\s*(\d{1,3})\s*\]")
_WORD_MARKER_RE = re.compile(r"[\[(]?\bpassage\s*\[?(\d{1,3})\]?[\])]?", re.IGNORECASE)
_PAREN_MARKER_RE = re.compile(r"(?<=\S)\s*\((\d{1,3})\)(?=\s*(?:[.!?,;]|$))")
_SPACED_MARKER_RE = re.compile(r"\[\s+(\d{1,3})\s+\]")
_ADJACENT_MARKERS_RE = re.compile(r"\](?=\[\d)")
_MARKER_RE = re.compile(r"\[(\d{1,3})\]")


class CorrectStep:
    name = "correct"

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        changes: list[str] = []
        text = state.answer

        def fix(label: str, new: str) -> None:
            nonlocal text
            if new != text:
                changes.append(label)
                text = new

        fix("removed_template_tokens", strip_template_tokens(text))
        fix("removed_echo", strip_echo(text, ctx.question))
        fix("removed_role_prefix", _ROLE_PREFIX_RE.sub("", text, count=1))
        valid = {p.rank for p in ctx.passages}
        fix("normalised_citations", normalize_markers(text, valid))
        fix("removed_repetition", remove_repetition(text))
        fix("dropped_invalid_citations", drop_invalid_markers(text, valid))
        fix("cut_unfinished", cut_unfinished(text))
        fix("tidied_whitespace", tidy(text))
        labels = [f"{self.name}:{c}" for c in changes if c != "tidied_whitespace"]
        return dataclasses.replace(state, answer=text, adjustments=[*state.adjustments, *labels])


def strip_template_tokens(text: str) -> str:
    m = _END_TOKENS_RE.search(text)
    if m is not None and _TEMPLATE_TOKENS_RE.sub("", text[: m.start()]).strip():
        text = text[: m.start()]
    text = _TEMPLATE_TOKENS_RE.sub(" ", text)
    return text.strip()


def _is_scaffold(line: str) -> bool:
    return bool(_SCAFFOLD_LINE_RE.match(line) or PASSAGE_HEADER_RE.match(line))


def strip_echo(text: str, question: str) -> str:
    """Drop prompt scaffolding the model repeated ("Question: ...", "Passage [1]: ...") and an echoed question."""
    lines = text.split("\n")
    if any(_is_scaffold(line) for line in lines):
        labelled = list(_ANSWER_LABEL_RE.finditer(text))
        text = text[labelled[-1].end() :] if labelled else "\n".join(ln for ln in lines if not _is_scaffold(ln))
    q = normalize_phrase(question)
    if q:
        # The answer opens by repeating the question: cut through the end of the repeated part.
        stripped = text.lstrip()
        spans = sentence_spans(stripped)
        first_end = spans[0][1] if spans else len(stripped)
        first = stripped[:first_end]
        if normalize_phrase(first) == q or (first.rstrip().endswith("?") and normalize_phrase(first).startswith(q)):
            text = stripped[first_end:]
    return text.strip()


def remove_repetition(text: str) -> str:
    text = _LOOP_RE.sub(r"\1", text)
    seen: set[str] = set()
    pieces: list[str] = []
    last = 0
    for start, end in sentence_spans(text):
        key = normalize_phrase(LEAD_IN_RE.sub("", text[start:end]))
        if key and key in seen:
            pieces.append(text[last:start].rstrip(" "))
            last = end
            continue
        seen.add(key)
    pieces.append(text[last:])
    return "".join(pieces).strip()


def normalize_markers(text: str, valid: set[int]) -> str:
    """ "[1, 2]", "[1][2]", "[1-2]", "Passage 1" -> "[1] [2]"; "(n)" at a sentence end only when passage n exists."""
    text = _MULTI_MARKER_RE.sub(lambda m: " ".join(f"[{n}]" for n in re.findall(r"\d+", m.group(1))), text)

    def expand(m: re.Match[str]) -> str:
        lo, hi = int(m.group(1)), int(m.group(2))
        return " ".join(f"[{n}]" for n in range(lo, hi + 1)) if 0 < hi - lo < 10 else m.group()

    text = _RANGE_MARKER_RE.sub(expand, text)
    text = _WORD_MARKER_RE.sub(lambda m: f"[{m.group(1)}]", text)
    text = _PAREN_MARKER_RE.sub(lambda m: f" [{m.group(1)}]" if int(m.group(1)) in valid else m.group(), text)
    text = _SPACED_MARKER_RE.sub(lambda m: f"[{m.group(1)}]", text)
    return _ADJACENT_MARKERS_RE.sub("] ", text)


def drop_invalid_markers(text: str, valid: set[int]) -> str:
    return _MARKER_RE.sub(lambda m: m.group() if int(m.group(1)) in valid else "", text)


def cut_unfinished(text: str) -> str:
    """Drop a trailing sentence with no end punctuation, unless it is the whole answer (a phrase), a list
    item, or what the sentence before it introduces ("The answer is:" then "DTIME(n) is defined as ..."):
    cutting that would leave only the introduction."""
    spans = sentence_spans(text)
    if len(spans) < 2:
        return text
    start, end = spans[-1]
    last = text[start:end]
    if _TERMINAL_RE.search(last):
        return text
    line_start = text.rfind("\n", 0, start) + 1
    before = text[spans[-2][0] : spans[-2][1]].rstrip()
    if _LIST_ITEM_RE.match(text[line_start:end]) or last.rstrip().endswith(":") or before.endswith(":"):
        return text
    return text[:start].rstrip()


def tidy(text: str) -> str:
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    text = re.sub(r" +([,.;:!?])", r"\1", text)
    text = re.sub(r"([.!?])\s*\1+", r"\1", text) if not re.search(r"\.\.\.", text) else text
    text = re.sub(r"\[\s*\]", "", text)
    return text.strip()
