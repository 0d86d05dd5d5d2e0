"""Normalise short answers so that equal answers compare equal (for `vote`).

`normalize_answer` maps the many spellings of one short answer onto one key:

    "Yes." / "yes" / "YES, it is" / "True"         -> "yes"
    "B" / "(b)" / "B) Paris" / "The answer is B."   -> "choice:b"
    "1,000" / "1000.0" / "1 000" / "Answer: 1000"  -> "1000"  (and number words to twenty)
    "**Paris**." / "paris"                          -> "paris"

Long answers keep their words (lower case, punctuation dropped), so two long
answers rarely agree and `vote` then falls back to candidate rank.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

_PREFIX = re.compile(
    r"^(?:(?:so|thus|therefore|hence)[,\s]+)?"
    r"(?:the\s+)?(?:final\s+|correct\s+|short\s+)?(?:answer|result|label|output)"
    r"(?:\s+is|\s*[:=-])\s*",
    re.IGNORECASE,
)
_INNER_ANSWER = re.compile(r"\banswer\s*(?:is|:)\s*(.+)$", re.IGNORECASE | re.DOTALL)
_CHOICE = re.compile(r"^\(?([a-h])\)?(?:[.):]\s*.*|\s*$)", re.IGNORECASE | re.DOTALL)
_CHOICE_WORD = re.compile(r"^(?:option|choice)\s+\(?([a-h])\)?\b", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:[,\s]\d{3})+|\d+)(?:\.\d+)?$")
_UNIT_NUMBER = re.compile(r"^([-+]?[\d.,\s]*\d)\s*(%|percent)?$", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s%+-]")
_SPACE = re.compile(r"\s+")
_QUOTES = "\"'\u201c\u201d\u2018\u2019"

_YES = {"yes", "yeah", "yep", "true", "correct", "right", "affirmative", "y"}
_NO = {"no", "nope", "false", "incorrect", "wrong", "negative", "n"}
# fmt: off
_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)
# fmt: on
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_WORDS)}
# Answers up to this many words may start with a yes/no that decides them ("Yes, it is").
_SHORT_WORDS = 12


def _strip_markup(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    text = re.sub(r"^```\w*\s*|\s*```$", "", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return text.strip().strip(_QUOTES).strip()


def _number(text: str) -> str | None:
    match = _UNIT_NUMBER.match(text)
    if not match:
        return None
    digits, percent = match.group(1).strip(), match.group(2)
    if not _NUMBER.match(digits):
        return None
    try:
        value = Decimal(re.sub(r"[,\s]", "", digits))
    except InvalidOperation:
        return None
    canonical = format(value.normalize(), "f")
    if "." in canonical:
        canonical = canonical.rstrip("0").rstrip(".")
    if canonical in ("-0", "+0"):
        canonical = "0"
    return canonical + ("%" if percent else "")


def normalize_answer(text: str) -> str:
    """One comparison key per short answer: case, punctuation, number formats, yes/no."""
    text = _strip_markup(text)
    stripped = _PREFIX.sub("", text, count=1).strip()
    if stripped == text:
        inner = _INNER_ANSWER.search(text)
        if inner and len(text.split()) <= _SHORT_WORDS:
            stripped = inner.group(1).strip()
    text = stripped
    text = text.rstrip(".!。").strip()
    choice = _CHOICE_WORD.match(text) or _CHOICE.match(text)
    if choice:
        return f"choice:{choice.group(1).lower()}"
    number = _number(text)
    if number is not None:
        return number
    words = _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()
    if not words:
        return ""
    parts = words.split(" ")
    if len(parts) <= _SHORT_WORDS:
        if parts[0] in _YES:
            return "yes"
        if parts[0] in _NO:
            return "no"
    if len(parts) == 1 and parts[0] in _NUMBER_WORDS:
        return _NUMBER_WORDS[parts[0]]
    if len(parts) > 1 and parts[0] in ("the", "a", "an"):
        parts = parts[1:]
    return " ".join(parts)
