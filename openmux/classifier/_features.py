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

import numpy as np

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
# Inline code in running text, too short for the symbol count: an operator such as
# "==" or "+=", a call ("print(i)", "df.groupby(x)"), a camelCase name ("setState"), a
# list comprehension. Checked with str methods first: a regex whose pattern starts
# with a character class costs about half a microsecond per character of the text.
_OPERATORS = ("==", "!=", "<=", ">=", "+=", "-=", "*=", "&&", "||")
_COMPREHENSION = re.compile(r"\[[^\]\n]{0,80}\bfor\b[^\]\n]{0,80}\bin\b")


def _has_call(head: str) -> bool:
    """A name of 3+ characters right before "(", closed within 40 characters."""
    i = head.find("(")
    while i != -1:
        close = head.find(")", i)
        if i >= 3 and head[i - 3 : i].replace("_", "a").isalnum() and 0 < close - i <= 41:
            return True
        i = head.find("(", i + 1)
    return False


def _code_expression(head: str) -> bool:
    return (
        any(op in head for op in _OPERATORS)
        or ("(" in head and _has_call(head))
        or any(len(t) > 3 and t[:2].islower() and not t.islower() for t in head.split())
        or ("[" in head and _COMPREHENSION.search(head) is not None)
    )


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
# A cue has one weight whatever its context, so words with a common everyday
# sense (python, java, git, bash, debug, deploy, docker, pip) or a common programming sense
# (vector, similarity, cosine, cluster), and words that often come with text the user
# pasted (podcast, transcript) or that name two media (clip: audio or video), are left
# to the word and char grams, whose weights the neighbouring words can outvote.
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
        "audio song songs beat beats tunes lullaby instrumental fanfare "
        "bpm remix sfx hiss vocals vocal stems voicemail musik musique chanson mastering "
        "música musica áudio to_text sound_effect sound_effects voice_memo voice_note "
        "voice_message",
        "transcrib transcrir transcris record melod soundtrack jingle grabaci canci enregistr "
        "aufnahm gravaç",
        "music musik h-to-t 录音 音频 音乐 歌曲 唱歌 首歌 録音 音声 作曲 запис музык мелоди песн "
        "تسجيل موسيق لحن रिकॉर्डिंग संगीत धुन गान 녹음 음악 노래 오디오",
    ),
    "embeddings": (
        "by_meaning by_topic same_thing in_meaning",
        "embed semantic dedup semantisch semánt duplicat",
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
        "video videos footage 0d mesh stl vr reserve unlock "
        "vídeo vidéo buche book_a book_me book_my order_me order_a order_new call_my "
        "buy_me pay_my turn_on turn_off schedule_a",
        "animat hologram reserva réserv bestell",
        "视频 动画 0d 订票 预订 订一 動画 ビデオ 予約 呼んで видео анимац забронируй закажи такси "
        "فيديو احجز वीडियो बुक भेजो 영상 동영상 예약 불러",
    ),
    "code": (
        "javascript js typescript c_++ c_# golang php sql regex regexp "
        "github kubectl npm api apis css html json yaml powershell "
        "syntax exception stacktrace traceback segfault nullpointerexception typeerror "
        "código función fonction funktion função",
        "compil",
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


@dataclass(frozen=True)
class _Cues:
    """One label's cues, compiled."""

    name: str
    words: frozenset[str]
    prefixes: re.Pattern[str]
    chars: re.Pattern[str]
    ascii_chars: re.Pattern[str] | None
    """The character grams an ASCII text can hold (most are in other scripts): the
    search most texts need, and often none."""


def _cue_table() -> list[_Cues]:
    table = []
    for name, (words, prefixes, grams) in _CUE_SPEC.items():
        chars = fold(grams).split()
        ascii_chars = [g for g in chars if g.isascii()]
        table.append(
            _Cues(
                name,
                frozenset(w.replace("_", " ") for w in fold(words).split()),
                _alternatives([f" {p}" for p in fold(prefixes).split()]),
                _alternatives(chars),
                _alternatives(ascii_chars) if ascii_chars else None,
            )
        )
    return table


CUES = _cue_table()


def cue_flags(words: set[str], padded: str) -> list[float]:
    """One 0/1 flag per label: do the text's words, word prefixes or characters hold a cue?"""
    joined = " " + " ".join(w for w in words if " " not in w)
    ascii_text = padded.isascii()
    flags = []
    for cues in CUES:
        chars = cues.ascii_chars if ascii_text else cues.chars
        hit = (
            not cues.words.isdisjoint(words)
            or (chars is not None and chars.search(padded) is not None)
            or cues.prefixes.search(joined) is not None
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
    "code_expression",
    "audio_file",
    "image_file",
    "video_file",
    *(f"cue_{c.name}" for c in CUES),
)


def normalize(text: str) -> str:
    """Fold, keep the head and tail of long texts, map digits to 0, squeeze spaces."""
    t = fold(text)
    if len(t) > _MAX_CHARS:
        t = t[: _MAX_CHARS - _TAIL] + " " + t[-_TAIL:]
    t = _DIGIT.sub("0", t)
    return _WS.sub(" ", t).strip()


# Names of programming languages, frameworks, data stores and developer tools. Each
# also enters the model as the class token TECH (upper case never survives `fold`),
# alone and in the bigrams and trigrams around it: "TECH or TECH", "learn TECH",
# "TECH island". A name the training data never shows still shares what its class
# learnt, and the words around a name that also has an everyday sense (python, java,
# rust, swift, go, shell) decide which sense it has.
_TECH_NAMES = (
    "python java javascript typescript rust go golang swift kotlin ruby php perl scala "
    "haskell elixir erlang clojure julia dart lua matlab fortran cobol zig ocaml sql bash "
    "zsh powershell shell react vue angular svelte nextjs nuxt django flask fastapi rails "
    "laravel quarkus nestjs flutter electron tauri unity godot pandas numpy polars pytorch "
    "tensorflow keras jax sklearn spark hadoop kafka rabbitmq redis memcached postgres "
    "postgresql mysql mariadb sqlite mongodb cassandra dynamodb elasticsearch opensearch "
    "neo4j clickhouse snowflake bigquery docker kubernetes k8s helm terraform pulumi "
    "ansible jenkins nginx linux ubuntu git github gitlab npm yarn pnpm pip poetry conda "
    "webpack vite babel eslint jest pytest unittest junit cypress playwright selenium "
    "graphql grpc aws azure gcp firebase supabase vercel heroku prisma typeorm sqlalchemy "
    "hibernate tailwind bootstrap sass jquery htmx vscode pycharm intellij vim emacs neovim "
    "xcode faiss pgvector chromadb pinecone qdrant weaviate milvus hnswlib node nodejs deno "
    "symfony micronaut redux zustand maven gradle cmake airflow dbt numba cython opencv "
    "rembg tiktoken moviepy mediapipe gtts pyttsx3 langchain huggingface openai scipy "
    "matplotlib seaborn plotly jupyter streamlit gradio onnx cuda llvm gcc clang wsl "
    "webassembly wasm blazor dotnet csharp xamarin arduino esp32 ios android pil vosk coqui"
)
TECH = frozenset(_TECH_NAMES.split())
_TECH_CLASS = "TECH"
# Names above that are also everyday words (an animal, an island, a gem, a bird, a
# verb, a party), with their plurals. When no other word of the text is about
# software, the token ALONE (alone and with the name) lets the model read them in
# their everyday sense.
_EVERYDAY_NAMES = (
    "python java ruby rust swift go shell bash git flask pandas spark kafka unity julia "
    "dart elixir node react spring cargo vim perl lua pythons rubies swifts shells sparks "
    "darts nodes springs"
)
EVERYDAY_SENSE = frozenset(_EVERYDAY_NAMES.split())
# Words that put a text about software: with one of them, "python" is the language.
_SOFTWARE_WORDS = (
    "code coding coder program programs programming programmer developer developers dev "
    "function functions method methods class classes script scripts scripting error errors "
    "exception bug bugs compile compiler compiled install installed installing library "
    "libraries package packages module modules import imports variable variables array "
    "arrays string strings int integer float loop loops api apis sdk framework frameworks "
    "backend frontend server servers database databases query queries regex json yaml xml "
    "html css repo repository commit commits branch runtime syntax async await thread "
    "threads dataframe dataframes column columns index file files terminal command "
    "commands cli version app apps website microservice microservices test tests unittest "
    "ide editor closure closures struct structs enum pointer pointers null nil lambda "
    "callback promise generic generics interface trait iterator decorator constructor "
    "inheritance recursion stack heap memory interpreter linter ci pipeline "
    "container containers deploy deployment web http https url localhost stdout stderr "
    "argument arguments parameter parameters return returns dict list tuple object objects "
    "type types typed crate crates gem gems npm pip coroutine coroutines goroutine "
    "goroutines binary binaries dependency dependencies js ts implement implementation "
    "algorithm algorithms dockerfile gitignore scraper scraping parse parser parsing output "
    "print println console log logs warning traceback undefined dom component components "
    "hook hooks props route routes endpoint endpoints request requests response orm schema "
    "migration migrations csv folder directory path paths statement snippet helper "
    "boilerplate refactor monorepo vector vectors matrix iterators decorators "
    "generators garbage bot bots client tokenize rebase groupby nullpointerexception "
    "useeffect fibonacci push pull merge clone checkout stash exceptions macro macros "
    "middleware usestate state venv virtualenv optional optionals args kwargs borrow checker "
    "debugger breakpoint linter formatter refactoring keyerror typeerror valueerror "
    "indexerror attributeerror modulenotfounderror oomkilled segfault palindrome factorial "
    "recursive concurrency mutex dictionary dictionaries hashmap firmware throughput sdk gui "
    "sort sorting liner unit promises lifetimes repos alias pivot jaccard comprehension "
    "comprehensions operator operators button buttons std pygame ordner ordnerstruktur "
    "código función fonction funktion função programa programme programmation "
    "programmieren programación programação skript datei archivo fichier arquivo ficheiro "
    "biblioteca bibliothèque bibliothek klasse clase classe método méthode methode bucle "
    "boucle schleife lista liste cadena funcion funcao funzione functie fonksiyon fonksiyonu "
    "fungsi dizionario diccionario dicionario erro erreur fehler errore decoradores "
    "decorateurs unitario unitaire recursiva recursivo skrypt skripti fattoriale fichiers listes "
    "folders keyword keywords yield branche branches depot rama ramas zweig"
)
# Folded as the text is, so that "función" matches the folded "funcion".
SOFTWARE_WORDS = TECH.difference(EVERYDAY_SENSE) | frozenset(fold(_SOFTWARE_WORDS).split())
_ALONE = "ALONE"
_LATIN_END = 0x250  # letters past Latin Extended-B: a script whose users name a snake otherwise
_CODE_CHARS = frozenset("{}[]();=<>$`\\|")


def _about_software(toks: list[str], norm: str) -> bool:
    return (
        not SOFTWARE_WORDS.isdisjoint(toks)
        # "ruby: what does &. do": a name as a topic label is the language
        or any(a in TECH and b == ":" for a, b in pairwise(toks))
        or any("_" in t for t in toks)
        or any(ord(ch) >= _LATIN_END for ch in norm)
        or sum(ch in _CODE_CHARS for ch in norm) >= 2
        or "c++" in norm
        or "c#" in norm
    )


def word_grams(norm: str) -> set[str]:
    toks = _TOKEN.findall(norm)
    grams = set(toks)
    grams.update(f"{a} {b}" for a, b in pairwise(toks))
    everyday = EVERYDAY_SENSE.intersection(toks)
    if everyday and not _about_software(toks, norm):
        # Every software name here has an everyday sense: none is read as TECH.
        grams.add(_ALONE)
        grams.update(f"{_ALONE} {t}" for t in everyday)
    elif not TECH.isdisjoint(toks):
        classed = [_TECH_CLASS if t in TECH else t for t in toks]
        around = [f"{a} {b}" for a, b in pairwise(classed)]
        triples = zip(classed, classed[1:], classed[2:], strict=False)
        around += [f"{a} {b} {c}" for a, b, c in triples]
        grams.add(_TECH_CLASS)
        grams.update(g for g in around if _TECH_CLASS in g)
    return grams


def char_hashes(padded: str) -> set[int]:
    """CRC-32 of each distinct char gram of `padded` (" norm "): the same values as
    `crc32(gram.encode(), CHAR_SEED)` over `char_grams`, without building the strings
    for ASCII text (long pastes have ~2,000 grams)."""
    if padded.isascii():
        b = padded.encode()
        if len(b) > _CRC_AT_ONCE_FROM:
            return _crc_at_once(b)
        return {crc32(b[i : i + n], CHAR_SEED) for n in CHAR_NS for i in range(len(b) - n + 1)}
    return {crc32(g.encode(), CHAR_SEED) for g in char_grams(padded[1:-1])}


# From this length on, one numpy pass over every position beats a crc32 call per gram
# (180 characters: about 173 -> 137 µs; a 700-character paste: 800 -> 300 µs); below
# it, numpy's fixed cost (about 80 µs) loses.
_CRC_AT_ONCE_FROM = 128


def _crc_table() -> np.ndarray:
    """zlib's CRC-32 (reflected polynomial 0xEDB88320), one entry per byte value."""
    table = []
    for value in range(256):
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    return np.array(table, dtype=np.uint32)


_CRC_TABLE = _crc_table()


def _crc_at_once(data: bytes) -> set[int]:
    """`char_hashes` of ASCII bytes (CHAR_NS = 3, 4, 5), every gram's CRC advanced one
    byte per numpy step: the 3-grams' after three steps, the 4-grams' after four, the
    5-grams' after five. The hashes enter the set in the per-gram loop's order (3-grams,
    then 4-grams, then 5-grams, each by position), so the set, and the order of its
    rows in the model's sum, are the same."""
    codes = np.frombuffer(data, dtype=np.uint8)
    state = np.full(len(codes) - min(CHAR_NS) + 1, ~CHAR_SEED & 0xFFFFFFFF, dtype=np.uint32)
    hashes: list[int] = []
    for step in range(max(CHAR_NS)):
        state = state[: len(codes) - step]  # the grams that reach this byte
        state = _CRC_TABLE[(state ^ codes[step : step + len(state)]) & 0xFF] ^ (state >> 8)
        if step + 1 in CHAR_NS:
            hashes += (~state).tolist()
    return set(hashes)


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
        float(_code_expression(head)),
        float("audio" in media),
        float("image" in media),
        float("video" in media),
        *cue_flags(words, padded),
    ]
