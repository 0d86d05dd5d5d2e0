"""Offline speech: eSpeak NG in process, from the `espeakng-loader` wheel (library + voices).

No key, no network, no download at run time: `pip install "openmux[speech]"` brings the
shared library and its voice data; this module calls it through ctypes and returns a WAV.
The library keeps global state, so one lock serialises every synthesis in the process.
"""

from __future__ import annotations

import ctypes
import threading
from functools import cache
from pathlib import Path
from typing import Any

from openmux.errors import ConfigError

SPEECH_INSTALL_HINT = 'pip install "openmux[speech]"'

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_RATE = 1  # espeakRATE: words per minute
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.Lock()


class _Engine:
    def __init__(self, library: Any, sample_rate: int) -> None:
        self.library = library
        self.sample_rate = sample_rate
        self.samples: list[bytes] = []

        def collect(wav: Any, count: int, events: Any) -> int:
            if count > 0 and wav:
                self.samples.append(ctypes.string_at(wav, count * 2))
            return 0

        self._callback = _SYNTH_CALLBACK(collect)  # kept alive as long as the engine
        library.espeak_SetSynthCallback(self._callback)


@cache
def _engine() -> _Engine:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise ConfigError(
            "offline speech needs eSpeak NG, which is not installed", fix=SPEECH_INSTALL_HINT
        ) from exc
    library = ctypes.CDLL(espeakng_loader.get_library_path())
    library.espeak_Initialize.restype = ctypes.c_int
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    data_home = str(Path(espeakng_loader.get_data_path()).parent).encode()
    sample_rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_home, 0)
    if sample_rate <= 0:
        raise ConfigError(
            "eSpeak NG could not load its voice data", fix=f"reinstall it: {SPEECH_INSTALL_HINT}"
        )
    return _Engine(library, sample_rate)


def speech_available() -> bool:
    try:
        import espeakng_loader  # noqa: F401
    except ImportError:
        return False
    return True


def synthesize(text: str, voice: str = "", words_per_minute: int = 165) -> tuple[bytes, int]:
    """16-bit mono PCM of `text` spoken by eSpeak NG, and its sample rate.

    `voice` is an eSpeak voice or language name ("en", "en-us", "fr", "de"); "en" when
    eSpeak has no such voice."""
    engine = _engine()
    library = engine.library
    encoded = text.encode("utf-8") + b"\0"
    with _lock:
        engine.samples = []
        # A voice name asked of the router may be another model's ("alloy"): speak on in
        # the default voice rather than fail the request over a name.
        if library.espeak_SetVoiceByName((voice or "en").encode()) != 0:
            library.espeak_SetVoiceByName(b"en")
        library.espeak_SetParameter(_RATE, words_per_minute, 0)
        library.espeak_Synth(encoded, len(encoded), 0, 0, 0, _CHARS_UTF8, None, None)
        library.espeak_Synchronize()
        pcm = b"".join(engine.samples)
    return pcm, engine.sample_rate
