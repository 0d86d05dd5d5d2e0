"""Feature extraction shared by training and inference.

Three families: word unigrams and bigrams, character 3-5-grams (2-5 outside ASCII) (which carry
scripts without spaces and survive typos), and a few dense hand features.
Each sparse family is a binary bag scaled by 1/sqrt(number of distinct grams).
Grams are hashed (CRC-32, one seed per family) into a fixed table of weight rows
instead of being looked up in a vocabulary: a dict of ~80,000 grams is several MB
that the HTTP stack evicts from the CPU caches between two requests, and each
lookup then costs about a microsecond; one row of a hashed table costs one miss.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from zlib import crc32

_WS = re.compile(r"\s+")
_DIACRITICS = re.compile("[\u0300-\u036f]")
_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"\w+|[^\w\s]+")
_MAX_CHARS = 700
_TAIL = 200
CHAR_NS = (3, 4, 5)
BUCKETS = 1 << 18
_MASK = BUCKETS - 1
WORD_SEED, CHAR_SEED = 0, 0x5BD1E995  # CRC start values: word and char grams hash apart

_FENCE = re.compile(r"```|^\s{4}\S|[{};]\s*$|\)\s*[{:]\s*$|=>|->|::|</?\w+>", re.MULTILINE)
_NOT_CODE_SYM = str.maketrans("", "", "{}[]();=<>$#/\\|`_")
_MEDIA_FILE = re.compile(
    r"(?P<audio>\.(?:wav|mp3|m4a|flac|ogg|aac|amr|opus|wma|aiff)\b)"
    r"|(?P<image>\.(?:png|jpe?g|gif|webp|bmp|tiff?|heic|svg)\b)"
    r"|(?P<video>\.(?:mp4|mov|avi|mkv|webm|flv)\b|youtu\.?be)",
    re.IGNORECASE,
)


def fold(text: str) -> str:
    """Casefold and drop Latin diacritics: many people type "dibujame" for "dibújame"."""
    t = text.casefold()
    if t.isascii():
        return t
    return unicodedata.normalize("NFC", _DIACRITICS.sub("", unicodedata.normalize("NFD", t)))


# Strong cues per label in several languages. They enter the model as binary
# features (not length-normalised), so a cue still counts inside a long paste.
# Per label: words or word bigrams ("_" = space), word prefixes, and character
# grams (2-5 chars, for scripts without spaces and hyphenated words). Matching
# reuses the gram sets of the text, so it costs a few set operations.
_CUE_SPEC: dict[str, tuple[str, str, str]] = {
    "tts": (
        "aloud tts accent pronounce spoken audiobook audiobooks voiceover out_loud voice_over "
        "read_it read_this read_that read_me read_my say_it say_this speak_it speak_this "
        "voice_this voice_it voice_my to_speech voz_alta voix_haute voix_off alta_voce",
        "narrat vorles locuci",
        "ce-ov o-spe 朗读 朗讀 读出 念一 念给 読み上げ 朗読 ナレーション вслух озвуч بصوت صوتي "
        "ज़ोर पढ़कर आवाज़ 소리 낭독 읽어 내레이션 음성으로",
    ),
    "audio": (
        "audio podcast song songs beat beats tunes lullaby instrumental fanfare "
        "bpm remix sfx hiss vocals vocal stems voicemail musik musique chanson mastering "
        "música musica áudio to_text sound_effect sound_effects voice_memo voice_note "
        "voice_message",
        "transcri record melod soundtrack jingle grabaci canci enregistr aufnahm gravaç music",
        "h-to-t 录音 音频 音乐 歌曲 唱歌 首歌 録音 音声 作曲 запис музык мелоди песн "
        "تسجيل موسيق لحن रिकॉर्डिंग संगीत धुन गान 녹음 음악 노래 오디오",
    ),
    "embeddings": (
        "cosine cluster clusters clustering by_meaning by_topic same_thing in_meaning "
        "nearest_neighbors nearest_neighbours",
        "embed vector semantic similarit dedup semantisch semánt similitud ähnlichkeit "
        "similaridade duplicat",
        "向量 嵌入 语义 相似 聚类 去重 埋め込み ベクトル 類似 意味 эмбеддинг вектор сходств "
        "смысл تضمين متجه دلالي المعنى एम्बेडिंग वेक्टर समानता अर्थ 임베딩 벡터 유사 의미",
    ),
    "image": (
        "image images picture pictures pic pics logo logos poster posters icon icons ocr "
        "caption upscale selfie portrait meme memes diagram imagen imagem logotipo draw draws "
        "drawing drawn",
        "paint sketch illustrat photo wallpaper screenshot dibuj dessin bild zeichne desenh foto",
        "图片 图像 画一 画个 画出 照片 画像 写真 イラスト 絵を 描いて картин рисун нарисуй "
        "изображен фото صورة ارسم شعار चित्र फोटो तस्वीर इमेज 그림 그려 사진 이미지 로고",
    ),
    "other": (
        "video videos clip clips footage 0d mesh stl vr reserve unlock "
        "vídeo vidéo buche book_a book_me book_my order_me order_a order_new call_my "
        "buy_me pay_my turn_on turn_off schedule_a",
        "animat hologram reserva réserv bestell",
        "视频 动画 0d 订票 预订 订一 動画 ビデオ 予約 呼んで видео анимац забронируй закажи такси "
        "فيديو احجز वीडियो बुक भेजो 영상 동영상 예약 불러",
    ),
    "code": (
        "python javascript js java typescript c_++ c_# golang kotlin php sql regex regexp "
        "git github docker kubectl npm pip api apis css html json yaml bash powershell "
        "syntax exception stacktrace traceback segfault nullpointerexception typeerror "
        "código función fonction funktion função",
        "debug compil deploy",
        "代码 函数 程序 报错 コード 関数 エラー код функци ошибк كود دالة برمج कोड फ़ंक 코드 "
        "함수 에러",
    ),
    "chat": (
        "poem poems story stories email letter essay toast speech lyrics haiku why advice "
        "tips recipe probability solve calculate percent average opinion poema poème "
        "gedicht what_is who_is who_was who_wrote",
        "summar translat explain recommend resum traduc tradu übersetz",
        "诗 詩 文章 翻译 стих перевед قصيدة ترجم कविता अनुवाद 시를 번역",
    ),
}


def _alternatives(items: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(i) for i in items))


def _cue_table() -> list[tuple[str, frozenset[str], re.Pattern[str], re.Pattern[str]]]:
    table = []
    for name, (words, prefixes, grams) in _CUE_SPEC.items():
        table.append(
            (
                name,
                frozenset(w.replace("_", " ") for w in fold(words).split()),
                _alternatives([f" {p}" for p in fold(prefixes).split()]),
                _alternatives(fold(grams).split()),
            )
        )
    return table


CUES = _cue_table()


def cue_flags(words: set[str], padded: str) -> list[float]:
    """One 0/1 flag per label: do the text's words, word prefixes or characters hold a cue?"""
    joined = " " + " ".join(w for w in words if " " not in w)
    flags = []
    for _, cue_words, prefixes, cue_chars in CUES:
        hit = (
            not cue_words.isdisjoint(words)
            or cue_chars.search(padded) is not None
            or prefixes.search(joined) is not None
        )
        flags.append(float(hit))
    return flags


DENSE_NAMES = (
    "len_1_3",
    "len_4_10",
    "len_11_40",
    "len_41_up",
    "code_layout",
    "code_symbols",
    "audio_file",
    "image_file",
    "video_file",
    *(f"cue_{c[0]}" for c in CUES),
)


def normalize(text: str) -> str:
    """Fold, keep the head and tail of long texts, map digits to 0, squeeze spaces."""
    t = fold(text)
    if len(t) > _MAX_CHARS:
        t = t[: _MAX_CHARS - _TAIL] + " " + t[-_TAIL:]
    t = _DIGIT.sub("0", t)
    return _WS.sub(" ", t).strip()


def word_grams(norm: str) -> set[str]:
    toks = _TOKEN.findall(norm)
    grams = set(toks)
    grams.update(f"{a} {b}" for a, b in pairwise(toks))
    return grams


def char_hashes(padded: str) -> set[int]:
    """CRC-32 of each distinct char gram of `padded` (" norm "): the same values as
    `crc32(gram.encode(), CHAR_SEED)` over `char_grams`, without building the strings
    for ASCII text (long pastes have ~2,000 grams)."""
    if padded.isascii():
        b = padded.encode()
        return {crc32(b[i : i + n], CHAR_SEED) for n in CHAR_NS for i in range(len(b) - n + 1)}
    return {crc32(g.encode(), CHAR_SEED) for g in char_grams(padded[1:-1])}


def char_grams(norm: str) -> set[str]:
    s = f" {norm} "
    grams: set[str] = set()
    for n in CHAR_NS if norm.isascii() else (2, *CHAR_NS):
        grams.update(map("".join, zip(*(s[k:] for k in range(n)), strict=False)))
    return grams


def buckets(grams: Iterable[str], seed: int) -> list[int]:
    """The weight-table row of each gram."""
    return [crc32(g.encode(), seed) & _MASK for g in grams]


@dataclass
class Features:
    """One text as the model sees it."""

    words: list[str]  # distinct word grams
    rows: list[int]  # weight-table rows: one per word gram, then one per distinct char gram
    dense: list[float]


def extract(text: str) -> Features:
    norm = normalize(text)
    word_set = word_grams(norm)
    words = list(word_set)
    padded = f" {norm} "
    char_rows = [h & _MASK for h in char_hashes(padded)]
    return Features(
        words, buckets(words, WORD_SEED) + char_rows, dense_features(text, word_set, padded)
    )


def dense_features(text: str, words: set[str], padded: str) -> list[float]:
    n_tok = len(text.split())
    head = text[:_MAX_CHARS]
    symbols = len(head) - len(head.translate(_NOT_CODE_SYM))
    media = {m.lastgroup for m in _MEDIA_FILE.finditer(head)}
    return [
        float(n_tok <= 3),
        float(4 <= n_tok <= 10),
        float(11 <= n_tok <= 40),
        float(n_tok > 40),
        float(bool(_FENCE.search(head))),
        float(symbols >= 6 and symbols / max(len(head), 1) > 0.03),
        float("audio" in media),
        float("image" in media),
        float("video" in media),
        *cue_flags(words, padded),
    ]
