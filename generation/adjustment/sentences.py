"""Text helpers shared by the steps: sentence spans, tokens, content words and their weights."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from lexicon import STOPWORDS as STOPWORDS  # re-exported: the steps read words through this module
from lexicon import stem as stem


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Citation markers as the correction step normalises them: "[1]" (possibly several: "[1] [2]").
MARKER_RE = re.compile(r"\s*\[\d{1,3}\]")
_WORD_RE = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# A sentence ends at . ! ? (and closing quotes/brackets), possibly followed by citation markers,
# when whitespace follows. Abbreviations are checked after the match.
_END_RE = re.compile(r"[.!?]+[\"'”’)\]]*(?:\s*\[\d{1,3}\])*(?=\s|$)")
_ABBREV_DOTS_RE = re.compile(r"(?<=\b[A-Za-z])\.(?=[A-Za-z]\b)")
_POSSESSIVE_RE = re.compile(r"(?<=\w)['’]s\b")
_ABBREVIATIONS = _words(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf al fig no vol pp approx inc ltd co corp jan feb mar apr jun "
    "jul aug sep sept oct nov dec u.s u.k a.m p.m"
)


# Openers that carry no content: "According to passage [1],", "The answer is", "Sure!".
LEAD_IN_RE = re.compile(
    r"^\s*(?:(?:based on|according to|as (?:stated|mentioned|described) in|from|per)\s+(?:the\s+)?"
    r"(?:passages?|documents?|context|text|sources?)?\s*(?:\[?\d+\]?\s*)*,?\s*"
    r"|(?:the\s+)?(?:short\s+|final\s+)?answer\s+(?:to\s+(?:this|your|the)\s+question\s+)?(?:is|would be)\s*:?\s*"
    r"|the\s+(?:passage|text|document)\s+(?:mentions|states|says)\s+(?:that\s+)?"
    r"|(?:sure|certainly|of course|great question|okay|ok)\s*[,!.:]\s*)+",
    re.IGNORECASE,
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in ``text``, whitespace trimmed; citation markers stay with their sentence."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):  # a line break always ends a sentence (lists, headings)
        start = 0
        for m in _END_RE.finditer(line):
            if _is_abbreviation(line, m.start(), m.group()):
                continue
            _add_span(text, offset + start, offset + m.end(), spans)
            start = m.end()
        _add_span(text, offset + start, offset + len(line), spans)
        offset += len(line) + 1
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def _is_abbreviation(text: str, dot: int, group: str) -> bool:
    if not group.startswith(".") or group.startswith(".."):
        return False
    word_start = dot
    while word_start > 0 and (text[word_start - 1].isalpha() or text[word_start - 1] == "."):
        word_start -= 1
    word = text[word_start:dot].lower()
    if word in _ABBREVIATIONS:
        return True
    # A single capital letter ("J. Smith") is an initial, not the end of a sentence.
    return len(word) == 1 and text[dot - 1].isupper()


# Counts written out. The passage side of a match holds both spellings ("two" and "2"), so an
# answer may write a count either way.
COUNT_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"),
)
_TENS = ("thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SPELLED = {w: str(i) for i, w in enumerate(COUNT_WORDS)} | {w: str(30 + 10 * i) for i, w in enumerate(_TENS)}
_OTHER_SPELLING = _SPELLED | {digits: word for word, digits in _SPELLED.items()}


def with_other_spellings(terms: set[str]) -> set[str]:
    """``terms`` plus each count in its other spelling ("two" -> "2", "2" -> "two")."""
    return terms | {_OTHER_SPELLING[t] for t in terms if t in _OTHER_SPELLING}


def normalize_number(token: str) -> str:
    return token.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token) else token


def fold(text: str) -> str:
    """Accents off ("Hervé" -> "Herve"), "U.S." -> "US", possessive "'s" off."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _ABBREV_DOTS_RE.sub("", text)
    return _POSSESSIVE_RE.sub("", text)


def tokens(text: str) -> list[str]:
    """Lower-cased words and numbers ("1,000" -> "1000")."""
    return [normalize_number(t.lower().replace("’", "'")) for t in _WORD_RE.findall(fold(text))]


def content_words(text: str) -> list[str]:
    return [t for t in tokens(MARKER_RE.sub(" ", text)) if t not in STOPWORDS and (len(t) > 1 or t.isdigit())]


def weighted_terms(text: str) -> dict[str, float]:
    """Content-word stems of ``text`` with a weight: numbers 3, capitalised names 2, other words 1."""
    weights: dict[str, float] = {}
    clean = fold(MARKER_RE.sub(" ", text))
    for m in _WORD_RE.finditer(clean):
        raw = m.group()
        low = normalize_number(raw.lower().replace("’", "'"))
        if low in STOPWORDS or (len(low) < 2 and not low.isdigit()):
            continue
        if low[0].isdigit():
            w = 3.0
        elif raw[0].isupper() and not _sentence_initial(clean, m.start()):
            w = 2.0
        else:
            w = 1.0
        key = low if low[0].isdigit() else stem(low)
        weights[key] = max(weights.get(key, 0.0), w)
    return weights


def stems(words: Iterable[str]) -> set[str]:
    return {w if w[:1].isdigit() else stem(w) for w in words}


def passage_stems(text: str) -> set[str]:
    """The content-word stems of passage text that an answer or a question is matched against,
    each count in both spellings."""
    return with_other_spellings(stems(content_words(text)))


def _sentence_initial(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \t\"'“(":
        i -= 1
    return i < 0 or text[i] in ".!?\n:"


def normalize_phrase(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD's answer normalisation)."""
    text = MARKER_RE.sub(" ", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
