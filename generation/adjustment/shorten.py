"""Shorten: for ``detail=short``, cut the model's sentence down to the answer phrase it contains.

A small model asked for "only the answer phrase" still tends to restate the question: "The most
well-known piece of Norman art is the Bayeux Tapestry." This step keeps "Bayeux Tapestry". It runs
before the citation check, so support, citations and abstention judge the phrase the user gets,
not the echoed question around it (which always looks supported). In order:

1. A phrase the model put in quotes in its first sentence is the answer, unless it is mostly the
   question's words ('... has "rounded arches"' gives "Rounded arches").
2. Lead-ins ("The answer is:") and citation markers go; a list introduced by "...are:" gives its
   first item; only the first sentence is kept, and trailing clauses (", which ...") are cut.
3. "<mostly the question's words> is/was/are/were <rest>" keeps ``<rest>``, repeatedly (at most three
   times), so "The moniker that is being used to describe X is the Tech Coast" gives "Tech Coast".
4. If the rest is still long, the last run of words that are not the question's is kept, preferring
   a run with a number for when/how many/what year questions and one with a name for who questions.
5. For when/how many/what year questions the number or date expression itself is kept.

Answers that share no word with the question are the model's own phrasing and are left whole; so are
declines ("... does not contain the answer"), which abstention then recognises.
"""

from __future__ import annotations

import dataclasses
import re

from generation.adjustment.abstain import model_declined
from generation.adjustment.sentences import COUNT_WORDS, LEAD_IN_RE, STOPWORDS, fold, stem
from generation.adjustment.style import to_phrase
from generation.adjustment.types import AdjustedAnswer, AdjustmentContext

_TOKEN_RE = re.compile(r"\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?|[^\W\d_]+(?:['’\-][^\W\d_]+)*|[^\w\s]", re.UNICODE)
_WORD_RE = re.compile(r"\w+")
_NUMBER_QUESTION_RE = re.compile(
    r"^\s*(?:when|how (?:many|much|long|old|far|big|large|often|tall|high))\b"
    r"|\b(?:what|which|in what) (?:year|decade|century|date|percentage|number|age)\b",
    re.IGNORECASE,
)
_NAME_QUESTION_RE = re.compile(r"^\s*(?:who|whom|whose)\b", re.IGNORECASE)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth")
_NUMBER_WORDS = frozenset((*COUNT_WORDS, *_ORDINAL_WORDS, "hundred", "thousand", "million", "billion"))
_NUMBER_RE = re.compile(
    rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?)?(?:(?:{_MONTHS})\s+)?\d[\d,.]*(?:st|nd|rd|th|s)?"
    r"(?:\s+(?:million|billion|thousand|hundred|centur(?:y|ies)|BC|AD|BCE|CE|percent|%))?"
    rf"|\b(?:{'|'.join((*COUNT_WORDS, *_ORDINAL_WORDS))})\b",
    re.IGNORECASE,
)
# The copula (or a verb of the same job) between a restated question and its answer.
_PIVOT_RE = re.compile(
    r"\s(?:is|was|are|were)(?:\s+(?:called|known as|named))?\s+"
    r"|\s(?:refers to|means|includes?|(?:occurred|took place|began|happened) (?:in|on))\s+"
)
_CLAUSE_RE = re.compile(r",\s*(?:which|who|whom|where|while|with|and it|but)\b|\s\((?!s\))")
_AFTER_PIVOT_END_RE = re.compile(r",|;|\s(?:which|who|because|since|as well as)\s")
_LIST_ITEM_RE = re.compile(r"^(?:[-*•]|\d+[.)])\s*")
_MARKUP_RE = re.compile(r"[*_`\"“”]")
_QUOTED_RE = re.compile(r"[\"“]([^\"“”\n]{1,80})[\"”]")
_QUOTE_MAX_WORDS = 6
_LEADING_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
# A punctuation token that may sit inside an answer run: "Denver, Colorado", "Saint-Lo", "(1066)".
_INNER_PUNCTUATION = frozenset(",-–&'’/()")


def _key(word: str) -> str:
    word = fold(word).lower()
    return word if word[:1].isdigit() else stem(word)


def answer_phrase(text: str, question: str) -> str:
    """The answer phrase inside ``text`` (a model's short answer to ``question``)."""
    question_keys = {_key(w) for w in _WORD_RE.findall(question)}
    wants_number = bool(_NUMBER_QUESTION_RE.search(question))
    quoted = _quoted_answer(text, question_keys, wants_number)
    if quoted:
        return quoted
    text = _first_statement(text)
    text = _after_restated_question(text, question_keys)
    if len(_WORD_RE.findall(text)) <= 4 and not wants_number:
        return text
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
    kinds = [_kind(word, question_keys) for word, _, _ in tokens]
    if "q" not in kinds and not wants_number:
        return text  # the model's own words: nothing of the question to take off
    runs = _runs(tokens, kinds)
    if not runs:
        return text
    wants_name = bool(_NAME_QUESTION_RE.search(question))

    def rank(run: tuple[int, int]) -> tuple[int, int]:
        words = [tokens[k][0] for k in range(*run)]
        fit = 0
        if wants_number and any(w[0].isdigit() or w.lower() in _NUMBER_WORDS for w in words):
            fit += 2
        if wants_name and any(w[0].isupper() for w in words):
            fit += 1
        return fit, run[0]  # later runs win ties: the answer follows the restated question

    a, b = max(runs, key=rank)
    piece = text[tokens[a][1] : tokens[b - 1][2]]
    if wants_number:
        number = _NUMBER_RE.search(piece) or _NUMBER_RE.search(text)
        if number:
            return number.group().strip()
    return piece.strip(" ,;-–")


def _quoted_answer(text: str, question_keys: set[str], wants_number: bool) -> str | None:
    """A phrase the model put in quotes in its first sentence, when most of it is not the question's words.

    'Norman architecture has "rounded arches" which ...' gives "rounded arches"; in 'The idiom is
    "Norman architecture"' the quotes only repeat the question ("What is the Norman architecture idiom?").
    """
    for m in _QUOTED_RE.finditer(to_phrase(text)):
        phrase = _LEADING_ARTICLE_RE.sub("", m.group(1).strip(" ,.;:"))
        words = _WORD_RE.findall(phrase)
        content = [w for w in words if w.lower() not in STOPWORDS]
        new = [w for w in content if _key(w) not in question_keys]
        if not new or len(words) > _QUOTE_MAX_WORDS or 2 * len(new) < len(content):
            continue
        if wants_number and not any(w[0].isdigit() or w.lower() in _NUMBER_WORDS for w in words):
            continue
        return phrase[:1].upper() + phrase[1:]
    return None


def _first_statement(text: str) -> str:
    lines = [line.strip() for line in LEAD_IN_RE.sub("", text.strip()).split("\n") if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):  # "The two resources are:\n\n1. **Time**: ..."
        text = _LIST_ITEM_RE.sub("", lines[1]).split(":")[0]
    text = _MARKUP_RE.sub("", to_phrase(text)).strip(" :;")
    return _CLAUSE_RE.split(text)[0].strip()


def _after_restated_question(text: str, question_keys: set[str]) -> str:
    for _ in range(3):
        m = _PIVOT_RE.search(text)
        if m is None:
            break
        content = [w for w in _WORD_RE.findall(text[: m.start()]) if w.lower() not in STOPWORDS]
        echoed = [w for w in content if _key(w) in question_keys]
        if not content or 2 * len(echoed) < len(content):
            break
        rest = _AFTER_PIVOT_END_RE.split(text[m.end() :])[0]
        rest = _LEADING_ARTICLE_RE.sub("", rest.strip()).strip(" ,;-–")
        if not rest:
            break
        text = rest
    return text


def _kind(word: str, question_keys: set[str]) -> str:
    """p: punctuation, s: stopword, q: one of the question's words, n: new."""
    if not word[0].isalnum():
        return "p"
    if word.lower() in STOPWORDS:
        return "s"
    return "q" if _key(word) in question_keys else "n"


def _runs(tokens: list[tuple[str, int, int]], kinds: list[str]) -> list[tuple[int, int]]:
    """Maximal runs of new words, stopwords and inner punctuation allowed between them."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        if kinds[i] != "n":
            i += 1
            continue
        j, end = i + 1, i + 1
        while j < len(tokens):
            if kinds[j] == "n":
                end = j = j + 1
            elif kinds[j] == "s" or (kinds[j] == "p" and tokens[j][0] in _INNER_PUNCTUATION):
                j += 1
            else:
                break
        runs.append((i, end))
        i = end
    return runs


class ShortenStep:
    name = "shorten"

    def apply(self, state: AdjustedAnswer, ctx: AdjustmentContext) -> AdjustedAnswer:
        if ctx.detail != "short" or state.abstained or not state.answer.strip():
            return state
        # A decline is no answer to shorten: "The passage is a list of names, but it does not contain the
        # answer." would become "List of names" and pass for one.
        if model_declined(state.answer):
            return state
        phrase = answer_phrase(state.answer, ctx.question)
        if not phrase or phrase == state.answer:
            return state
        return dataclasses.replace(
            state,
            answer=phrase,
            adjustments=[*state.adjustments, f"{self.name}:answer_phrase"],
            long_answer=state.answer,
        )
