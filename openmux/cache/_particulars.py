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
_WORDS = re.compile(r"[^\W_]+")
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


# Language names (to translate into, to answer in): a language's code, then the stems of
# its name in the languages this cache is measured in (whole words in Chinese, Japanese).
_LANGUAGE_TABLE = """
en english englisch anglais inglés inglês inglese англи 英语 英文 英語
fr french französisch français francés francês francese франц 法语 法文 フランス語
de german deutsch allemand alemán alemão tedesco немец 德语 德文 ドイツ語
es spanish spanisch espagnol español espanhol spagnolo испан 西班牙语 スペイン語
it italian italienisch italien italiano итальян 意大利语 イタリア語
pt portuguese portugiesisch portugais portugués português portoghese португал 葡萄牙语 ポルトガル語
ru russian russisch russe ruso russo русск 俄语 ロシア語
zh chinese chinesisch chinois chino chinês cinese китай 中文 汉语 中国語
ja japanese japanisch japonais japonés japonês giapponese япон 日语 日文 日本語
ko korean koreanisch coréen coreano корей 韩语 韓国語
ar arabic arabisch arabe árabe arabo араб 阿拉伯语 アラビア語
"""  # noqa: RUF001 (Cyrillic stems)
_LANGUAGES = {
    code: tuple(stems)
    for code, *stems in (line.split() for line in _LANGUAGE_TABLE.strip().splitlines())
}


def same_particulars(first: str, second: str) -> bool:
    return (
        numbers(first) == numbers(second)
        and negated(first) == negated(second)
        and names(first) == names(second)
        and languages(first) == languages(second)
        and not one_word_swapped(first, second)
    )


def one_word_swapped(first: str, second: str) -> bool:
    """Do the texts differ in one word only, replaced by an unrelated one ("how a cat sees
    colours" / "how a dog sees colours")? That is how a near miss is made; a rewording
    changes more, a short function word ("do" / "can") or a word's form only ("spider" /
    "spiders")."""
    one, other = _WORDS.findall(first.lower()), _WORDS.findall(second.lower())
    if len(one) != len(other) or len(one) < 2:
        return False
    changed = [(a, b) for a, b in zip(one, other, strict=True) if a != b]
    if len(changed) != 1:
        return False
    a, b = changed[0]
    if min(len(a), len(b)) < 3:  # a function word ("do" / "can", "is" / "'s")
        return False
    return a[:3] != b[:3]


def numbers(text: str) -> frozenset[str]:
    return frozenset(re.sub(r"[.,](?=\d{3}\b)", "", n) for n in _NUMBER.findall(text))


def negated(text: str) -> bool:
    lowered = text.lower()
    if any(mark in lowered for mark in _NEGATION_MARKS):
        return True
    words = re.findall(r"[^\W\d_]+", lowered.replace("n'", "ne "))
    return any(word in _NEGATIONS for word in words)


def languages(text: str) -> frozenset[str]:
    """The languages a text names (a word starting with one of their stems)."""
    lowered = text.lower()
    words = re.findall(r"[^\W\d_]+", lowered)
    return frozenset(
        code
        for code, stems in _LANGUAGES.items()
        if any(
            stem in lowered if _cjk(stem) else any(word.startswith(stem) for word in words)
            for stem in stems
        )
    )


def _cjk(stem: str) -> bool:
    return any("\u3040" <= char <= "\u9fff" for char in stem)


def names(text: str) -> frozenset[str]:
    """Capitalised words that do not start a sentence (possessive 's dropped)."""
    found: set[str] = set()
    for sentence in _SENTENCE_END.split(text):
        for word in _WORD.findall(sentence)[1:]:
            if word[0].isupper() and not word.isupper():
                found.add(re.sub(rf"[{_APOSTROPHES}]s$", "", word).lower())
    return frozenset(found)
