"""What kind of answer a request gets: text, or the non-text output its label names.

One decision, made once per request right after classification. A chat model can
answer most requests a classifier labels image, tts, audio or other ("Count from 1 to
10", "count my tokens", "Summarize this podcast transcript: ..."); refusing them costs
the user an answer, while answering a real drawing request with prose is the other
error. So a non-text label stands only when both hold:

1. the classifier is at least `MEDIA_MIN_CONFIDENCE` sure of it, and
2. the request itself shows that modality: media of that kind is attached or named as a
   file ("meeting.wav"), referred to as the input where only a media model can read it
   ("my recording", "this video"), or asked for with a verb that makes or edits it
   ("draw ...", "generate an image", "read this aloud", "compose a beat", "make a video").
   A question about a picture is image understanding: text, from a vision model.

Otherwise the request is answered with text, and the metadata's `considered` says
which label was set aside and why. A caller's explicit task is never second-guessed,
and a request with tools bound is the agent's: its tools may make the media.

The signals are vocabulary, not scores: the rule depends on the classifier only
through the documented threshold, so a retrained classifier keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openmux.routing._request import RouteRequest

MEDIA_MIN_CONFIDENCE = 0.5
"""Below this a non-text label is more likely a misreading than a request for media."""

# Tasks whose answer is not text: only a provider that produces that output may serve them.
NON_TEXT_OUTPUT = {
    "tts": "spoken audio (text-to-speech)",
    "audio": "audio work (speech-to-text, music or sound generation)",
    "image": "images (generation or editing)",
    "other": "video, 3D or another output that no text, image, audio or vector model makes",
}

# How far (in words) a making verb may stand before the media noun it governs.
_WINDOW = 8


@dataclass(frozen=True)
class Modality:
    """The words and files that show one kind of media in a request."""

    make: frozenset[str]
    """Verbs that ask for this media to be made or changed, when one of `outputs` follows."""
    outputs: frozenset[str]
    """What this media is called as something to make ("image", "beat", "video")."""
    alone: frozenset[str] = frozenset()
    """Words that ask for this media on their own ("draw", "aloud")."""
    figurative: frozenset[str] = frozenset()
    """After an `alone` word, these within the window make it figurative ("draw up")."""
    inputs: frozenset[str] = frozenset()
    """What this media is called as the input ("this photo", "my recording")."""
    extensions: frozenset[str] = frozenset()
    """File extensions of this media, for files named in the text."""
    blocks: tuple[str, ...] = ()
    """Message content block types that attach this media."""
    scripts: tuple[str, ...] = ()
    """Phrases in languages written without spaces between words."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_IMAGE_EXT = _words("png jpg jpeg gif webp bmp tif tiff heic svg")
_AUDIO_EXT = _words("wav mp3 m4a flac ogg opus aac wma aiff")
_VIDEO_EXT = _words("mp4 mov avi mkv webm m4v")
_3D_EXT = _words("obj stl glb gltf fbx ply")

# en es pt it fr de ru (imperatives and infinitives)
_MAKE = _words(
    "generate create make produce render design edit redraw retouch upscale restyle "
    "colorize recolor crop compose record animate turn convert "
    "genera generar crea crear haz hacer gera gerar cria criar faça fazer creare fai "
    "génère générer crée créer fais faire erstelle erstellen erzeuge erzeugen mach "
    "generiere generieren создай создать сгенерируй сделай нарисуй"
)

# After a drawing verb ("draw", "paint", "sketch", "illustrate"), a particle or a
# text-shaped object makes it the figurative sense, which wants text: "draw up a
# contract", "draw a comparison", "paint a picture with words", "sketch out a plan",
# "illustrate the concept with an example", "draw an ASCII table".
_FIGURATIVE_DRAWING = _words(
    "up down out upon from words word ascii text table tables plan plans comparison comparisons "
    "conclusion conclusions concept concepts example examples parallel parallels distinction "
    "distinctions line lines lesson lessons contract template outline list summary essay "
    "story timeline analogy argument attention inspiration"
)

_MODALITIES: dict[str, Modality] = {
    "image": Modality(
        make=_MAKE,
        outputs=_words(
            "image picture photo photograph illustration drawing painting sketch logo "
            "icon poster wallpaper thumbnail sticker portrait artwork banner meme avatar "
            "watercolor sprite imagen imagem immagine foto dibujo desenho disegno dessin "
            "bild zeichnung изображение картинк рисунок"
        ),
        alone=_words(
            "draw paint sketch illustrate doodle dibuja dibújame pinta desenhe desenha "
            "disegna dessine dessinez zeichne zeichnen нарисуй нарисуйте"
        ),
        figurative=_FIGURATIVE_DRAWING,
        # No `inputs`: a question about a picture ("what's in this photo?") wants text,
        # which vision models give (and, with no picture attached, a chat model can
        # say so); only making or editing one needs an image model.
        extensions=_IMAGE_EXT,
        blocks=("image_url", "image"),
        scripts=("画一", "画个", "画张", "生成图", "生成一张", "描いて", "画像を生成", "그려"),
    ),
    "tts": Modality(
        # The input of speech synthesis is text: only a request to speak it counts.
        make=_MAKE | _words("read say speak narrate pronounce"),
        outputs=_words("speech audio mp3 wav voiceover voice-over narration audiobook"),
        # "voice-over" alone names the thing ("a voice-over booth"), so it needs a verb.
        alone=_words("aloud narrate vorlesen вслух"),
        scripts=("朗读", "读出来", "念出来", "読み上げ", "音読", "소리 내어"),
    ),
    "audio": Modality(
        make=_MAKE | _words("transcribe denoise separate isolate"),
        outputs=_words(
            "music beat melody song jingle soundtrack instrumental ringtone sfx audio "
            "música musique musik музык"
        ),
        inputs=_words("recording audio voicemail mp3 wav"),
        extensions=_AUDIO_EXT,
        blocks=("input_audio", "audio"),
        scripts=("作曲", "生成音乐", "音楽を作", "음악을 만들", "转录", "文字起こし"),
    ),
    "other": Modality(
        make=_MAKE | _words("film shoot"),
        outputs=_words("video clip animation gif 3d mesh vídeo vidéo видео ролик"),
        alone=frozenset({"animate"}),
        inputs=_words("video clip footage"),
        extensions=_VIDEO_EXT | _3D_EXT,
        blocks=("video", "video_url"),
        scripts=("生成视频", "制作视频", "做一个视频", "動画を作", "動画を生成", "영상을 만들"),
    ),
}

# Words that point at media the user already has ("this photo", "my recording").
_DEICTIC = _words("this these that attached my our este esta ce cette diese dieses")
# A media noun right before one of these names a text about the media ("podcast
# transcript", "song lyrics", "video script"), not the media.
_TEXT_ABOUT = _words(
    "transcript transcripts lyrics script scripts caption captions title titles description "
    "descriptions notes summary outline review name names idea ideas prompt prompts"
)
# Between a making verb and its noun, these make the noun the topic, not the output
# ("write a poem about photographs", "not an image").
_TOPIC = _words(
    "about regarding on not no without sobre sur über "
    # the made thing is a text about the media: "make a list of adjectives to describe music"
    "list lists describe describes describing explain explaining"
)
# The user says the answer is text: "describe it in words", "只要提示词文字".
_TEXT_ONLY = (
    "in words",
    "text only",
    "only text",
    "just the text",
    "just text",
    "nur text",
    "solo texto",
    "juste le texte",
    "只要",
    "文字だけ",
    "텍스트만",
)
# Before a phrase of a language written without spaces: the user does it ("自分が読み上げる").
_SELF_SCRIPTS = ("自分", "自己", "私が", "我自己", "제가", "내가")

# The user as the one who acts: with a modal ("I can read aloud", "ich ... vorlesen
# kann"), or right before the verb ("который я зачитаю вслух").
_FIRST_PERSON = _words("i we ich wir je nous yo eu io я мы")
_MODALS = _words(
    "can could will shall should may might must kann könnte werde muss soll peux pourrai "
    "puedo podré posso potrei могу буду"
)
# "... to VERB" asks the assistant only after these ("I want you to draw", "help me to").
_ASKS_THE_ASSISTANT = _words("want wants wanted like love need needs you me us able please")
# Quoted words are mentioned or pasted, not the instruction ('what does "draw" mean in
# poker?', 'Summarize this email: "... make sure the video crew ..."').
_QUOTED = re.compile(
    '["\u201c\u201e\u00ab]([^"\u201c\u201d\u201e\u00ab\u00bb]{1,4000})["\u201d\u00bb]'
)
_WORD = re.compile(r"[\w'\u2019\-]+", re.UNICODE)
_FILE = re.compile(r"\b[\w\-]+\.([A-Za-z0-9]{2,4})\b")
_SENTENCE = re.compile("[.!?;:\n\u3002\uff01\uff1f]+")  # also CJK full stops and marks


@dataclass(frozen=True)
class OutputDecision:
    """What the request is answered with, and why."""

    output: str
    """"text", or the non-text task whose output the request needs."""
    why: str


def _is(word: str, nouns: frozenset[str]) -> bool:
    """`word` is one of `nouns` or its plural (stems of inflected languages: a prefix)."""
    if word in nouns or word.removesuffix("s") in nouns or word.removesuffix("es") in nouns:
        return True
    return any(not noun.isascii() and word.startswith(noun) for noun in nouns)


def _noun_at(words: list[str], i: int, nouns: frozenset[str]) -> bool:
    following = words[i + 1] if i + 1 < len(words) else ""
    return _is(words[i], nouns) and not _is(following, _TEXT_ABOUT)


def _made(words: list[str], modality: Modality) -> str | None:
    """The phrase that asks for this media to be made or changed, if any."""
    for i, word in enumerate(words):
        if word in modality.alone and _noun_at(words, i, modality.alone):
            if not _figurative(words, i, modality.figurative) and not _made_by_someone_else(
                words, i
            ):
                return word
            continue
        if word not in modality.make or _made_by_someone_else(words, i):
            continue
        for j in range(i + 1, min(len(words), i + 1 + _WINDOW)):
            if words[j] in _TOPIC:
                break
            if _noun_at(words, j, modality.outputs):
                return f"{word} … {words[j]}"
    return None


def _made_by_someone_else(words: list[str], i: int) -> bool:
    """The verb at `i` is done by the user or a third party, not asked of the assistant:
    "a script I can read aloud", "den ich ... vorlesen kann", "a brief for a designer to
    create a logo", "how to draw a cat" (a how-to question wants instructions)."""
    before = words[max(0, i - _WINDOW) : i]
    near = words[max(0, i - 3) : i + 2]
    if any(w in _FIRST_PERSON for w in before) and any(w in _MODALS for w in near):
        return True
    if any(w in _FIRST_PERSON for w in words[max(0, i - 2) : i]):
        return True
    return i >= 2 and words[i - 1] == "to" and words[i - 2] not in _ASKS_THE_ASSISTANT


def _figurative(words: list[str], i: int, marks: frozenset[str]) -> bool:
    """The verb at `i` governs a text-shaped object or particle, within the window."""
    return any(word in marks for word in words[i + 1 : i + 1 + _WINDOW])


def _referred(words: list[str], modality: Modality) -> str | None:
    """Media of this kind the request points at as its input ("this photo")."""
    for i in range(1, len(words)):
        if words[i - 1] in _DEICTIC and _noun_at(words, i, modality.inputs):
            return f"{words[i - 1]} {words[i]}"
    return None


def _signal(task: str, text: str, blocks: set[str]) -> str | None:
    """What in the request shows the modality of `task`; None when nothing does."""
    modality = _MODALITIES[task]
    attached = blocks.intersection(modality.blocks)
    if attached:
        return f"{sorted(attached)[0]} content attached"
    for match in _FILE.finditer(text):
        if match.group(1).lower() in modality.extensions:
            return f"the file {match.group(0)}"
    lowered = _QUOTED.sub(" ", text.lower())
    size = len(lowered.split())
    # (Counted in spaced scripts only: a Chinese or Japanese request is one "word".)
    if lowered.isascii() and (size <= 1 or (size <= 2 and lowered.rstrip().endswith("?"))):
        return None  # "draw", "draw?": the word alone names nothing to make
    if any(marker in lowered for marker in _TEXT_ONLY):
        return None
    for sentence in _SENTENCE.split(lowered.replace("out loud", "aloud")):
        words = _WORD.findall(sentence)
        found = _made(words, modality) or _referred(words, modality)
        if found:
            return f"'{found}'"
    for phrase in modality.scripts:
        at = lowered.find(phrase)
        if at >= 0 and not any(mark in lowered[max(0, at - 6) : at] for mark in _SELF_SCRIPTS):
            return f"'{phrase}'"
    return None


def _last_user_text(request: RouteRequest) -> tuple[str, set[str]]:
    """The last user turn's text and the types of its content blocks."""
    for message in reversed(request.messages):
        if message.type != "human":
            continue
        content: Any = message.content
        if isinstance(content, str):
            return content, set()
        texts, kinds = [], set()
        for block in content:
            if isinstance(block, str):
                texts.append(block)
            elif isinstance(block, dict):
                kinds.add(str(block.get("type")))
                if isinstance(block.get("text"), str):
                    texts.append(block["text"])
        return " ".join(texts), kinds
    return "", set()


def decide_output(request: RouteRequest) -> OutputDecision:
    """Text, or the non-text output the request clearly asks for (see the module doc)."""
    classification = request.classification
    task = str(classification.task) if classification else "chat"
    if task not in NON_TEXT_OUTPUT:
        return OutputDecision("text", f"labelled {task}")
    if request.task is not None:
        return OutputDecision(task, "the caller set the task")
    if request.needs_tools:
        return OutputDecision("text", "tools are bound: the model may call them to make it")
    if task == "image" and request.has_image_input:
        return OutputDecision("text", "image understanding: a vision model reads the image")
    assert classification is not None
    confidence = classification.confidence
    if confidence < MEDIA_MIN_CONFIDENCE:
        return OutputDecision(
            "text", f"label {task!r} below {MEDIA_MIN_CONFIDENCE} confidence ({confidence:.2f})"
        )
    text, blocks = _last_user_text(request)
    signal = _signal(task, text, blocks)
    if signal is None:
        return OutputDecision(
            "text",
            f"labelled {task!r} ({confidence:.2f}), but the request shows no {task} "
            "output or input to work on",
        )
    return OutputDecision(task, f"labelled {task!r} ({confidence:.2f}) and it shows {signal}")
