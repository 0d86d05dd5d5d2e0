"""Build the training corpus: English templates, template grids in ten other
languages, hand-written examples, plus noise (typos, casing, politeness, padding).

Deterministic for a given seed. Every example carries a group id (its template
or source line) so a held-out split can leave out whole phrasings.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from tools.classifier.templates import PARAGRAPHS, SLOTS, SNIPPETS, TEMPLATES
from tools.classifier.templates_i18n import I18N

DATA_DIR = Path(__file__).resolve().parent / "data"
_SLOT = re.compile(r"\{(\w+)\}")

PREFIXES = [
    "",
    "",
    "",
    "",
    "please ",
    "can you ",
    "could you ",
    "hey, ",
    "pls ",
    "i need you to ",
    "quick one: ",
    "hi! ",
    "ok so ",
    "yo ",
    "I'd like you to ",
    "help: ",
    "task: ",
]
SUFFIXES = ["", "", "", "", " please", " thanks", "?", " asap", " :)", ".", " thx", "!"]
# Answer-format asks that say nothing about the task. Appended to chat and code
# requests alike, so that neither label owns words like "one" or "sentence".
FORMAT_ASKS = [
    " in one sentence",
    " in one paragraph",
    " briefly",
    " in simple terms",
    " in a few words",
    " step by step",
    " for a beginner",
    " in detail",
    " with an example",
    " in 3 bullet points",
    ", keep it short",
    ", explain like I'm five",
]
_FORMAT_LABELS = {"chat", "code"}
_FIRST_VERB_FIX = {"deep": "deep", "retries": "retry"}


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    group: str


def _infinitive(phrase: str) -> str:
    first, _, rest = phrase.partition(" ")
    if first in _FIRST_VERB_FIX:
        verb = _FIRST_VERB_FIX[first]
        if first == "deep":
            second, _, rest = rest.partition(" ")
            return f"deep {second[:-1]} {rest}".strip()
    elif first.endswith(("ches", "shes", "sses", "xes")):
        verb = first[:-2]
    elif first.endswith("s"):
        verb = first[:-1]
    else:
        verb = first
    return f"{verb} {rest}".strip()


def _fill(template: str, rng: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "codetask_inf":
            return _infinitive(rng.choice(SLOTS["codetask"]))
        if name == "snippet":
            return rng.choice(SNIPPETS)
        if name == "snippet_short":
            return rng.choice(SNIPPETS).splitlines()[0]
        if name == "paragraph":
            return rng.choice(PARAGRAPHS)
        if name == "action_lower":
            action = rng.choice(SLOTS["action"])
            return action[0].lower() + action[1:]
        base = name.rstrip("2")
        return rng.choice(SLOTS[base])

    return _SLOT.sub(one, template)


def _typo(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 40)):
        if len(chars) < 4:
            break
        i = rng.randrange(1, len(chars) - 1)
        op = rng.random()
        if op < 0.35:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op < 0.65:
            del chars[i]
        elif op < 0.85:
            chars.insert(i, chars[i])
        else:
            chars[i] = rng.choice("aeiounrst")
    return "".join(chars)


def _noise(text: str, rng: random.Random, latin: bool = True, label: str = "") -> str:
    if latin and label in _FORMAT_LABELS and rng.random() < 0.12:
        text = text.rstrip(" .?!") + rng.choice(FORMAT_ASKS)
    if latin:
        text = rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)
    r = rng.random()
    if r < 0.15:
        text = _typo(text, rng)
    elif r < 0.22:
        text = text.lower()
    elif r < 0.25:
        text = text.upper()
    elif r < 0.32 and text:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.05:
        text = rng.choice(PARAGRAPHS) + "\n\n" + text if latin else text
    return text


def read_tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        rows.append((label.strip(), text.replace("\\n", "\n")))
    return rows


def generate(seed: int = 13, per_template: int = 40) -> list[Example]:
    """Return the full training corpus (deterministic for the seed)."""
    rng = random.Random(seed)
    out: list[Example] = []
    for label, templates in TEMPLATES.items():
        for t_idx, template in enumerate(templates):
            seen: set[str] = set()
            for _ in range(per_template):
                text = _noise(_fill(template, rng), rng, label=label)
                if text not in seen:
                    seen.add(text)
                    out.append(Example(text, label, f"en:{label}:{t_idx}"))
    for lang, labels in I18N.items():
        latin = lang in {"es", "fr", "de", "pt"}
        for label, (frames, fillers) in labels.items():
            for f_idx, frame in enumerate(frames):
                for filler in fillers:
                    text = frame.replace("{x}", filler)
                    text = text[0].upper() + text[1:] if rng.random() < 0.5 else text
                    out.append(Example(text, label, f"{lang}:{label}:{f_idx}"))
                    if latin and rng.random() < 0.3:
                        out.append(
                            Example(
                                _noise(text, rng, latin=False), label, f"{lang}:{label}:{f_idx}"
                            )
                        )
    for path in sorted(DATA_DIR.glob("train_*.tsv")):
        name = path.name
        for i, (label, text) in enumerate(read_tsv(path)):
            group = f"{name}:{i}"
            out.append(Example(text, label, group))
            for _ in range(3):
                noisy = _noise(text, rng, latin=text.isascii(), label=label)
                out.append(Example(noisy, label, group))
    return out


if __name__ == "__main__":
    from collections import Counter

    corpus = generate()
    print(len(corpus), Counter(e.label for e in corpus))
