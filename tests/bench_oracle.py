"""A fake provider's reply function that answers the bundled bench sets correctly.

Given the request JSON, it finds the question in the last user message and answers it
as a good model would: the expected answer in a sentence for chat, a code block that
passes the tests for code. Tests use it to tell a good fake model from a poor one.
"""

from __future__ import annotations

from typing import Any

from openmux.quality import eval_set

SOLUTIONS = {
    "reverse_words": "def reverse_words(text):\n    return ' '.join(reversed(text.split()))\n",
    "is_palindrome": (
        "def is_palindrome(text):\n"
        "    kept = [c.lower() for c in text if c.isalnum()]\n"
        "    return kept == kept[::-1]\n"
    ),
    "fizzbuzz": (
        "def fizzbuzz(n):\n"
        "    out = []\n"
        "    for i in range(1, n + 1):\n"
        "        word = ('Fizz' if i % 3 == 0 else '') + ('Buzz' if i % 5 == 0 else '')\n"
        "        out.append(word or str(i))\n"
        "    return out\n"
    ),
    "flatten": (
        "def flatten(items):\n"
        "    out = []\n"
        "    for item in items:\n"
        "        out.extend(flatten(item) if isinstance(item, list) else [item])\n"
        "    return out\n"
    ),
    "word_count": (
        "import re\n"
        "from collections import Counter\n\n"
        "def word_count(text):\n"
        '    return dict(Counter(re.findall(r"[a-z\']+", text.lower())))\n'
    ),
    "merge_intervals": (
        "def merge_intervals(intervals):\n"
        "    merged = []\n"
        "    for start, end in sorted(intervals):\n"
        "        if merged and start <= merged[-1][1]:\n"
        "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n"
        "        else:\n"
        "            merged.append((start, end))\n"
        "    return merged\n"
    ),
    "to_roman": (
        "def to_roman(number):\n"
        "    table = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'),\n"
        "             (90, 'XC'), (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'),\n"
        "             (4, 'IV'), (1, 'I')]\n"
        "    out = ''\n"
        "    for value, letters in table:\n"
        "        while number >= value:\n"
        "            out += letters\n"
        "            number -= value\n"
        "    return out\n"
    ),
    "primes_below": (
        "def primes_below(n):\n"
        "    return [p for p in range(2, n) if all(p % d for d in range(2, int(p ** 0.5) + 1))]\n"
    ),
}


def _last_user_text(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    return ""


def oracle(request: dict[str, Any]) -> str:
    """The right answer to a bench question; a friendly line to anything else."""
    text = _last_user_text(request)
    for item in eval_set("code").items:
        if item.question in text:
            return f"Here it is:\n\n```python\n{SOLUTIONS[item.entry_point]}```\n"
    for item in eval_set("chat").items:
        if item.question in text:
            return f"The answer is {item.answer}."
    return "Happy to help."
