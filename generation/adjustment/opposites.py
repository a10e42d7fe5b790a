"""Opposite words: "least" against "most", "unsolved" against "solved".

Used by abstention to notice a question that borrows a sentence of the passages and turns one word of
it into its opposite ("What is the least important open question?" against "... the most important open
question ..."): the passages then state the opposite of what is asked.

Two sources, both closed and general: a list of common English opposites (superlatives and
comparatives, directions, quantities, outcomes), and negative prefixes ("un", "in", "im", "il", "ir",
"non", "dis") in front of a word of at least four letters.
"""

from __future__ import annotations

import re

_PAIRS = """
most least|more less|more fewer|most fewest|many few|all none|always never|everything nothing|
largest smallest|biggest smallest|greatest least|highest lowest|higher lower|high low|large small|
big small|larger smaller|bigger smaller|upper lower|top bottom|maximum minimum|
best worst|better worse|first last|earliest latest|earlier later|early late|oldest youngest|
oldest newest|older younger|older newer|old new|ancient modern|before after|start end|begin end|
north south|east west|northern southern|eastern western|northernmost southernmost|easternmost westernmost|
north-east south-west|north-west south-east|above below|inside outside|internal external|front back|
increase decrease|increased decreased|increasing decreasing|rise fall|rose fell|gain loss|
easy hard|easier harder|easiest hardest|simple complex|simplest hardest|simplicity complexity|
simplicity difficulty|soft hard|softer harder|softest hardest|major minor|primary secondary|
long short|longer shorter|longest shortest|fast slow|faster slower|fastest slowest|
strong weak|stronger weaker|strongest weakest|heavy light|wide narrow|deep shallow|hot cold|
warmest coldest|hottest coldest|wet dry|rich poor|richest poorest|cheap expensive|
win lose|won lost|victory defeat|success failure|succeeded failed|accept reject|accepted rejected|
allow forbid|allowed forbidden|allowed prohibited|include exclude|included excluded|
positive negative|common rare|same different|true false|correct incorrect|general specific|
private public|urban rural|import export|imported exported|buy sell|bought sold|
birth death|born died|male female|men women|input output|
tractable intractable|polynomial exponential|bounded unbounded|
"""


def _both_ways(pairs: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for pair in re.split(r"[|\n]", pairs):
        if len(words := pair.split()) == 2:
            a, b = words
            found.setdefault(a, set()).add(b)
            found.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in found.items()}


_OPPOSITES = _both_ways(_PAIRS)

_NEGATIVE_PREFIXES = ("non-", "non", "un", "in", "im", "il", "ir", "dis")
_MIN_STEM = 4


def opposites(word: str) -> set[str]:
    """Words that mean the opposite of ``word`` (lower case): listed ones and prefix negations both ways."""
    word = word.lower()
    found = set(_OPPOSITES.get(word, ()))
    for prefix in _NEGATIVE_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_STEM:
            found.add(word[len(prefix) :])
        if len(word) >= _MIN_STEM:
            found.add(prefix + word)
    return found
