"""The cue flags: an ASCII text is searched only for the cues ASCII can spell, and
finds every cue a search of them all finds."""

from __future__ import annotations

import pytest

from openmux.classifier._features import CUES, cue_flags, normalize, word_grams

TEXTS = {
    "Explain recursion in one sentence": set(),
    "play some music for my workout": {"audio"},  # an ASCII character-gram cue
    "speech-to-text for this voice memo": {"audio"},
    "add a voice-over to the intro": {"tts"},
    "print a 3d model of a vase": {"other"},  # digits fold to 0: "0d"
    "请朗读这段文字": {"tts"},
    "нарисуй кота на крыше": {"image"},
    "résumé de cet article": {"chat"},  # folded to ASCII
}


def _every_cue(words: set[str], padded: str) -> list[float]:
    joined = " " + " ".join(w for w in words if " " not in w)
    return [
        float(
            not cues.words.isdisjoint(words)
            or cues.chars.search(padded) is not None
            or cues.prefixes.search(joined) is not None
        )
        for cues in CUES
    ]


@pytest.mark.parametrize("text", TEXTS)
def test_cue_flags_find_what_a_search_of_every_cue_finds(text: str) -> None:
    norm = normalize(text)
    words = word_grams(norm)
    padded = f" {norm} "
    flags = cue_flags(words, padded)
    assert flags == _every_cue(words, padded)
    assert {cues.name for cues, flag in zip(CUES, flags, strict=True) if flag} >= TEXTS[text]
