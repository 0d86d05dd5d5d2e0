"""Particulars two near-identical requests must share to share an answer.

Sentence embeddings place "convert 5 km to miles" and "convert 50 km to miles", or
"is it safe" and "is it not safe", almost on top of each other, yet their answers
differ. A semantic hit therefore also needs the same numbers, the same polarity
(negated or not) and the same names (capitalised words past the start of a sentence,
in scripts that capitalise: other places, people, languages to translate into).
Stricter than needed is safe: it only turns a hit into a miss.
"""

from __future__ import annotations

import re

_APOSTROPHES = "'\u2019"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(rf"[^\W\d_]+(?:[{_APOSTROPHES}][^\W\d_]+)?")
# Sentence ends, the full-width ones of Chinese and Japanese included.
_SENTENCE_END = re.compile("[.!?\u00bf\u00a1:;\n\u3002\uff01\uff1f]")
_NEGATIONS = frozenset(
    [
        *("not", "no", "never", "none", "nothing", "nobody", "cannot", "without", "neither"),
        *("nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals"),
        *("ohne", "weder", "ne", "pas", "jamais", "sans", "aucun", "aucune", "ni", "rien"),
        *("nunca", "sin", "ningún", "ninguna", "ninguno", "jamás", "nada", "nadie"),
        *("não", "sem", "nenhum", "nenhuma", "non", "mai", "senza", "nessun", "nessuno"),
        *("nessuna", "niente", "не", "нет", "никогда", "без", "ни", "ничего", "никто"),
    ]
)
# Negation inside a word: English contractions; Chinese and Japanese negators.
_NEGATION_MARKS = (
    *("n't", "n\u2019t"),
    *("不", "没", "沒", "别", "別", "无", "無", "未", "ない", "ません"),
)


def same_particulars(first: str, second: str) -> bool:
    return (
        numbers(first) == numbers(second)
        and negated(first) == negated(second)
        and names(first) == names(second)
    )


def numbers(text: str) -> frozenset[str]:
    return frozenset(re.sub(r"[.,](?=\d{3}\b)", "", n) for n in _NUMBER.findall(text))


def negated(text: str) -> bool:
    lowered = text.lower()
    if any(mark in lowered for mark in _NEGATION_MARKS):
        return True
    words = re.findall(r"[^\W\d_]+", lowered.replace("n'", "ne "))
    return any(word in _NEGATIONS for word in words)


def names(text: str) -> frozenset[str]:
    """Capitalised words that do not start a sentence (possessive 's dropped)."""
    found: set[str] = set()
    for sentence in _SENTENCE_END.split(text):
        for word in _WORD.findall(sentence)[1:]:
            if word[0].isupper() and not word.isupper():
                found.add(re.sub(rf"[{_APOSTROPHES}]s$", "", word).lower())
    return frozenset(found)
