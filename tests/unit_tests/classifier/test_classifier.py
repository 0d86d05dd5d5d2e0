# ruff: noqa: RUF001
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from openmux.classifier import TaskClassification, TaskType, classify, resolve_classifier
from openmux.classifier.cli import run
from tests.helpers import run_child

DATA = Path(__file__).parent / "data"
# Written apart from the training data; never trained or calibrated on.
UNSEEN_SETS = ["eval.tsv", "holdout.tsv", "fresh.tsv"]


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Explain how tides work", TaskType.CHAT),
        ("Write a thank-you email to my team after the launch", TaskType.CHAT),
        ("Write a Python function to merge two dictionaries", TaskType.CODE),
        ("Why does this segfault? int *p = 0; *p = 1;", TaskType.CODE),
        ("Read this paragraph aloud in a calm voice: We open at nine.", TaskType.TTS),
        ("Turn my blog post into an mp3 narration", TaskType.TTS),
        ("Transcribe meeting.wav", TaskType.AUDIO),
        ("Generate a 10-second lo-fi beat", TaskType.AUDIO),
        ("Embed these three sentences: 'a', 'b', 'c'", TaskType.EMBEDDINGS),
        (
            "How semantically similar are 'car' and 'automobile'? Give a cosine score",
            TaskType.EMBEDDINGS,
        ),
        ("Draw a cat wearing a space suit", TaskType.IMAGE),
        ("Extract the text from this screenshot", TaskType.IMAGE),
        ("Make a 30-second video of waves", TaskType.OTHER),
        ("Generate a 3D mesh of a chair", TaskType.OTHER),
    ],
)
def test_each_label(text: str, task: TaskType) -> None:
    result = classify(text)
    assert isinstance(result, TaskClassification)
    assert result.task is task, result
    assert 0.0 <= result.confidence <= 1.0
    assert result.reason


@pytest.mark.parametrize(
    ("text", "task"),
    [
        # code that produces another artifact is code
        ("Python code that draws a circle with PIL", TaskType.CODE),
        ("Write a script that converts text to speech with pyttsx3", TaskType.CODE),
        # talking about a modality is chat
        ("Write a poem about photographs", TaskType.CHAT),
        ("What is a vector embedding?", TaskType.CHAT),
        ("How do embeddings work in PyTorch?", TaskType.CODE),
        # math and data questions without a program are chat
        ("What is 17% of 240?", TaskType.CHAT),
        ("Solve 2x + 6 = 14", TaskType.CHAT),
        ("Translate 'good morning' to Japanese", TaskType.CHAT),
        # answer-format asks say nothing about the task
        ("Explain recursion in one sentence", TaskType.CHAT),
        ("Write a Python one-liner that reverses a list", TaskType.CODE),
    ],
)
def test_borderline_rules(text: str, task: TaskType) -> None:
    assert classify(text).task is task


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Escribe una función en Python que sume dos números", TaskType.CODE),
        ("Dessine un chat dans l'espace", TaskType.IMAGE),
        ("Lies diesen Text bitte laut vor", TaskType.TTS),
        ("Transcreva esta gravação", TaskType.AUDIO),
        ("写一首关于春天的诗", TaskType.CHAT),
        ("このテキストを読み上げて", TaskType.TTS),
        ("Сделай видео с закатом", TaskType.OTHER),
        ("ما هي عاصمة فرنسا؟", TaskType.CHAT),
        ("इन वाक्यों के एम्बेडिंग बनाओ", TaskType.EMBEDDINGS),
        ("고양이 그림 그려 줘", TaskType.IMAGE),
    ],
)
def test_non_english(text: str, task: TaskType) -> None:
    assert classify(text).task is task


@pytest.mark.parametrize(
    ("text", "task"),
    [
        # names of languages and tools in their everyday sense
        ("my python keeps hiding under the heat lamp, is she sick?", TaskType.CHAT),
        ("what's the nicest town on the north coast of Java?", TaskType.CHAT),
        ("how do I get rust off a cast iron skillet", TaskType.CHAT),
        ("python: how do I flatten a nested list", TaskType.CODE),
        # programming questions about vectors and indexes, and a technology choice
        ("How do I add a composite index to a MySQL table?", TaskType.CODE),
        ("numpy: dot product of two vectors without a loop", TaskType.CODE),
        ("Postgres or SQLite for a hobby web app?", TaskType.CODE),
        ("Embed these two sentences and give me their vectors: 'hi', 'hello'", TaskType.EMBEDDINGS),
        # music made is audio; a recorded voice judged is audio; text made speech is tts
        ("compose a cheerful whistling melody for a cereal ad", TaskType.AUDIO),
        ("is the speaker in this voicemail calm or anxious?", TaskType.AUDIO),
        ("Прочитай вслух: поезд отправляется в девять", TaskType.TTS),
        # an edit of the user's own picture
        ("take the background out of my passport photo", TaskType.IMAGE),
        # inline code without a fence
        ("what does this print: [c.upper() for c in 'abc' if c != 'b']", TaskType.CODE),
        # talk about music is chat; text made an audio file is tts, in any script
        ("suggest some upbeat songs for a wedding playlist", TaskType.CHAT),
        ("Haz un archivo de audio con este texto: hasta mañana", TaskType.TTS),
        ("この文を音声にして：いってきます", TaskType.TTS),
    ],
)
def test_error_themes(text: str, task: TaskType) -> None:
    assert classify(text).task is task


@pytest.mark.parametrize(
    "text",
    [
        "Count from 1 to 10",
        "count my tokens",
        "Count the words in this sentence",
        "Summarize this podcast transcript: we talked about AI",
    ],
)
def test_text_requests_get_no_confident_media_label(text: str) -> None:
    result = classify(text)
    assert result.task in (TaskType.CHAT, TaskType.CODE) or result.confidence < 0.5, result


def test_software_names_read_in_context() -> None:
    from openmux.classifier._features import normalize, word_grams

    everyday = word_grams(normalize("how long do pythons live"))
    assert "ALONE" in everyday
    assert "TECH" not in everyday
    software = word_grams(normalize("should I learn Kotlin or Scala"))
    assert {"TECH or TECH", "learn TECH"} <= software
    assert "ALONE" not in software


def test_diacritics_do_not_matter() -> None:
    with_marks, without = classify("Dibújame un dragón rojo"), classify("Dibujame un dragon rojo")
    assert with_marks.task is without.task is TaskType.IMAGE
    assert with_marks.confidence == without.confidence


_LONG_PASTE = (
    "def total(rows):\n    return sum(r['amount'] for r in rows if r.get('ok'))\n" * 12
    + "why does this raise KeyError: 'amount' on the third row?"
)


@pytest.mark.parametrize(
    "text",
    [
        "Explain recursion in one sentence",
        "写一首关于春天的诗",
        "Dibújame 42 dragones",
        "",
        _LONG_PASTE,
    ],
)
def test_char_hashes_match_hashing_each_gram(text: str) -> None:
    from zlib import crc32

    from openmux.classifier._features import CHAR_SEED, char_grams, char_hashes, normalize

    norm = normalize(text)
    assert char_hashes(f" {norm} ") == {crc32(g.encode(), CHAR_SEED) for g in char_grams(norm)}


def test_long_text_hashes_come_in_the_per_gram_order() -> None:
    """The model sums the rows in the set's order (float32): a long text's hashes, made
    in one numpy pass, must build the very set the per-gram loop builds."""
    from zlib import crc32

    from openmux.classifier._features import CHAR_NS, CHAR_SEED, char_hashes, normalize

    padded = f" {normalize(_LONG_PASTE)} ".encode()
    assert len(padded) > 300
    per_gram = {
        crc32(padded[i : i + n], CHAR_SEED) for n in CHAR_NS for i in range(len(padded) - n + 1)
    }
    assert list(char_hashes(padded.decode())) == list(per_gram)


def test_semantic_rows_add_the_mean_of_the_known_words() -> None:
    import copy

    import numpy as np

    from openmux.classifier._features import extract
    from openmux.classifier._model import get_model

    model = get_model()
    text = "please take the background out of my holiday photo"
    known = [model.semantic_rows[w] for w in extract(text).words if w in model.semantic_rows]
    assert len(known) >= 4  # everyday words have distilled vectors
    without = copy.copy(model)
    without.semantic_rows = {}
    mean = model.weights[known].mean(axis=0)
    expected = np.array(without.score(text).logits) + mean
    assert np.allclose(model.score(text).logits, expected, atol=1e-5)


IMAGE_BLOCKS = [
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    {"type": "image", "url": "https://example.com/cat.png"},
    {"type": "image", "source_type": "base64", "data": "aGk=", "mime_type": "image/png"},
]


@pytest.mark.parametrize("block", IMAGE_BLOCKS)
def test_image_block_means_image(block: dict) -> None:
    msg = HumanMessage(content=[{"type": "text", "text": "what is this?"}, block])
    result = classify([msg])
    assert result.task is TaskType.IMAGE
    assert "image" in result.reason


def test_image_block_with_code_request_is_code() -> None:
    msg = HumanMessage(
        content=[
            {"type": "text", "text": "Write the HTML and CSS for this page layout"},
            IMAGE_BLOCKS[0],
        ]
    )
    assert classify([msg]).task is TaskType.CODE


@pytest.mark.parametrize(
    "block",
    [
        {"type": "input_audio", "input_audio": {"data": "aGk=", "format": "wav"}},
        {"type": "audio", "source_type": "base64", "data": "aGk=", "mime_type": "audio/wav"},
    ],
)
def test_audio_block_means_audio(block: dict) -> None:
    result = classify([{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}])
    assert result.task is TaskType.AUDIO


def test_input_forms() -> None:
    text = "Write a SQL query that counts orders per day"
    assert classify(text).task is TaskType.CODE
    assert classify([HumanMessage(text)]).task is TaskType.CODE
    assert classify(HumanMessage(text)).task is TaskType.CODE
    assert classify([{"role": "user", "content": text}]).task is TaskType.CODE
    assert classify([("human", text)]).task is TaskType.CODE
    prompt = ChatPromptTemplate.from_messages([("system", "be brief"), ("human", "{q}")])
    assert classify(prompt.invoke({"q": text})).task is TaskType.CODE


def test_last_user_turn_decides() -> None:
    messages = [
        SystemMessage("You are helpful."),
        HumanMessage("Write a Python function that parses ISO dates"),
        AIMessage("def parse(s): ..."),
        HumanMessage("Now draw a picture of a sunset over the sea"),
    ]
    assert classify(messages).task is TaskType.IMAGE


@pytest.mark.parametrize(
    ("first", "follow_up", "task"),
    [
        ("Write a Python function that reverses a linked list", "make it shorter", TaskType.CODE),
        ("Write a poem about the autumn rain", "make it shorter", TaskType.CHAT),
        ("Write a bash script that backs up my photos folder", "and in PowerShell?", TaskType.CODE),
        ("Draw a red fox sleeping in the snow", "now in watercolor", TaskType.IMAGE),
    ],
)
def test_earlier_turns_break_ties(first: str, follow_up: str, task: TaskType) -> None:
    messages = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "Here you go."},
        {"role": "user", "content": follow_up},
    ]
    assert classify(messages).task is task


def test_a_clear_last_turn_is_not_outvoted_by_earlier_turns() -> None:
    messages = [
        {"role": "user", "content": "What's a good name for a seaside cafe?"},
        {"role": "assistant", "content": "How about 'The Salty Cup'?"},
        {"role": "user", "content": "Draw a lighthouse at dawn"},
    ]
    result = classify(messages)
    assert result.task is TaskType.IMAGE
    assert "earlier turns" not in result.reason


def test_secondary_label_for_two_artifacts() -> None:
    result = classify("Draw a lighthouse at dusk and write a haiku about it")
    assert result.task is TaskType.IMAGE
    assert TaskType.CHAT in result.secondary
    result = classify("Translate this to French and then read it aloud: we are closed today")
    assert result.task is TaskType.TTS
    assert TaskType.CHAT in result.secondary
    assert classify("Explain how tides work").secondary == []


def test_reason_names_cues() -> None:
    result = classify("Write a python function with a regex that validates emails")
    assert result.task is TaskType.CODE
    assert result.reason.startswith("code cues:")


def test_resolve_classifier_default_and_callable() -> None:
    assert resolve_classifier(None) is classify
    fixed = TaskClassification(TaskType.AUDIO, 0.5, [], "custom")
    seen: list[object] = []

    def custom(request: object) -> TaskClassification:
        seen.append(request)
        return fixed

    fn = resolve_classifier(custom)
    assert fn("hello") is fixed
    assert seen == ["hello"]


def test_resolve_classifier_runnable() -> None:
    runnable = RunnableLambda(lambda x: TaskClassification(TaskType.IMAGE, 0.9, [], f"got {x}"))
    fn = resolve_classifier(runnable)
    result = fn("draw")
    assert result.task is TaskType.IMAGE
    assert result.reason == "got draw"


def test_resolve_classifier_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        resolve_classifier(42)
    with pytest.raises(TypeError):
        resolve_classifier(lambda _: "chat")("hi")


def test_cli_text_and_json() -> None:
    out = io.StringIO()
    assert run(["Draw", "a", "cat"], stdout=out) == 0
    label, confidence, _secondary, reason = out.getvalue().rstrip("\n").split("\t")
    assert label == "image"
    assert 0 <= float(confidence) <= 1
    assert reason

    out = io.StringIO()
    assert run(["--json", "Transcribe meeting.wav"], stdout=out) == 0
    payload = json.loads(out.getvalue())
    assert payload["task"] == "audio"
    assert set(payload) == {"task", "confidence", "secondary", "reason"}


def test_cli_reads_stdin_lines() -> None:
    out = io.StringIO()
    stdin = io.StringIO("Write a haiku about rain\n\nEmbed these sentences: a, b\n")
    assert run(["--json"], stdin=stdin, stdout=out) == 0
    tasks = [json.loads(line)["task"] for line in out.getvalue().splitlines()]
    assert tasks == ["chat", "embeddings"]


def test_import_is_lazy() -> None:
    code = (
        "import sys, openmux.classifier as c; "
        "assert 'numpy' not in sys.modules, 'numpy imported'; "
        "assert 'openmux.classifier._model' not in sys.modules"
    )
    run_child([sys.executable, "-c", code], check=True)


def _load(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, text = line.partition("\t")
            rows.append((label, text.replace("\\n", "\n")))
    return rows


def test_eval_set_shape() -> None:
    rows = _load("eval.tsv")
    assert len(rows) >= 400
    labels = {label for label, _ in rows}
    assert labels == {t.value for t in TaskType}
    non_ascii = sum(not text.isascii() for _, text in rows)
    assert non_ascii >= 0.1 * len(rows)


@pytest.mark.parametrize("name", UNSEEN_SETS)
def test_accuracy_and_calibration_on_unseen_prompts(name: str) -> None:
    rows = _load(name)
    results = [(classify(text), label) for label, text in rows]
    correct = [r.task.value == label for r, label in results]
    assert sum(correct) / len(rows) >= 0.95
    # expected calibration error over 10 confidence bins
    bins: dict[int, list[tuple[float, bool]]] = {}
    for (r, _), ok in zip(results, correct, strict=True):
        bins.setdefault(min(int(r.confidence * 10), 9), []).append((r.confidence, ok))
    ece = sum(
        len(b) / len(rows) * abs(sum(c for c, _ in b) / len(b) - sum(ok for _, ok in b) / len(b))
        for b in bins.values()
    )
    assert ece <= 0.05
