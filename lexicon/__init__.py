"""Words shared by retrieval and generation: the project's one English stopword list and one stemmer.

BM25 (``retrieval.bm25_index``) and the adjustment stage's word overlap (``generation.adjustment.sentences``)
both read words through this module, so a question word that BM25 ignores is also one the overlap checks
ignore, and "founded", "founding" and "founds" meet in the same stem everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import Stemmer

# Words that carry no evidence on their own. Small on purpose: question words and auxiliaries, articles,
# pronouns and prepositions, and the words a question or an answer uses about the documents themselves.
# Anything rarer counts as content. Lower case, as the tokenizers produce them.
_STOPWORD_TEXT = """
    a an the and or but nor so yet if then than that this these those there here of in on at by for with
    about against between into through during before after above below to from up down out off over under
    again further once is are was were be been being am do does did doing have has had having will would
    shall should can could may might must not no only own same too very just also as such both each few
    more most other some any all i me my we our you your he him his she her it its they them their what
    which who whom whose when where why how whats s t d ll m re ve isn aren wasn weren don doesn didn
    according passage passages document documents text answer question one
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# Snowball's English (Porter 2) stemmer; a PyStemmer object is not shared between threads.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def stem(word: str) -> str:
    """The stem of one lower-case word ("founded" -> "found")."""
    return str(_stemmer().stemWord(word))


def stem_words(words: Sequence[str]) -> list[str]:
    """The stems of many lower-case words, in order."""
    return [str(s) for s in _stemmer().stemWords(list(words))]
