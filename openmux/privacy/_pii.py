"""Finding and masking personal data in text: emails, phone numbers, card numbers, IBANs.

Card numbers must pass the Luhn check and IBANs the ISO 13616 mod-97 check, so
order numbers and other long digit runs are left alone. Phone numbers are the
loosest: 8 to 15 digits, written with a leading `+`, or grouped by spaces,
dots, dashes or parentheses (dates and plain digit runs are not touched).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from openmux.config import PII_KINDS

PLACEHOLDERS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
}

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{1,5}(?:[\s.-]\d{1,5}){1,5}(?![\w-])"
    r"|(?<![\w+])\+\d{8,15}(?!\w)"
)
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone(match: re.Match[str]) -> bool:
    text = match.group().strip()
    digits = re.sub(r"\D", "", text)
    if not 8 <= len(digits) <= 15 or _DATE.match(text):
        return False
    if "." in text and not text.startswith("+") and re.fullmatch(r"[\d.]+", text):
        return False  # version numbers and IP-like dotted runs
    return text.startswith("+") or "(" in text or len(re.findall(r"\d+", text)) >= 2


_DETECTORS: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str]], bool]]] = {
    # Order matters: IBANs and cards before phones (their digits look like phones).
    "email": (_EMAIL, lambda m: True),
    "iban": (_IBAN, lambda m: iban_ok(m.group())),
    "card": (_CARD, _card),
    "phone": (_PHONE, _phone),
}


def scrub_text(text: str, kinds: Iterable[str] = PII_KINDS) -> str:
    """`text` with each detected item of `kinds` replaced by a placeholder like `[EMAIL]`."""
    wanted = set(kinds)
    unknown = wanted - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kind(s): {', '.join(sorted(unknown))}")
    for kind, (pattern, accept) in _DETECTORS.items():
        if kind not in wanted:
            continue
        text = pattern.sub(_replacer(accept, PLACEHOLDERS[kind]), text)
    return text


def _replacer(
    accept: Callable[[re.Match[str]], bool], placeholder: str | None
) -> Callable[[re.Match[str]], str]:
    """Replace accepted matches by `placeholder` (None: by as many spaces)."""

    def replace(match: re.Match[str]) -> str:
        if not accept(match):
            return match.group()
        return placeholder if placeholder is not None else " " * len(match.group())

    return replace


def find_pii(text: str, kinds: Iterable[str] = PII_KINDS) -> list[tuple[str, str]]:
    """(kind, text) for each item found, in detection order (for tests and dry runs)."""
    found: list[tuple[str, str]] = []
    wanted = set(kinds)
    for kind, (pattern, accept) in _DETECTORS.items():
        if kind in wanted:
            for match in pattern.finditer(text):
                if accept(match):
                    found.append((kind, match.group()))
            text = pattern.sub(_replacer(accept, None), text)
    return found
