"""Offline transcription: a pulled Whisper ONNX export (`openmux pull whisper-tiny`) run by
onnxruntime, with the feature extraction and greedy decoding in numpy.

The features are Whisper's: 16 kHz mono, 30-second windows, a 400-point STFT every 160
samples, a Slaney-scale mel filterbank, log10 clamped to 8 below the peak, scaled to
about [-1, 1]. Recordings longer than 30 seconds are read window by window.
"""

from __future__ import annotations

import io
import threading
import wave
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from openmux.providers import ProviderFailure

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
WINDOW_SAMPLES = 30 * SAMPLE_RATE
MAX_NEW_TOKENS = 224
ENCODER_FILE = "onnx/encoder_model.onnx"
DECODER_FILE = "onnx/decoder_model.onnx"
TOKENIZER_FILE = "tokenizer.json"

_lock = threading.Lock()  # one transcription at a time: the sessions use every core


def read_wav(data: bytes) -> np.ndarray:
    """The recording as float32 mono samples at 16 kHz (WAV only: no decoder is bundled)."""
    try:
        with wave.open(io.BytesIO(data)) as sound:
            channels, width, rate = sound.getnchannels(), sound.getsampwidth(), sound.getframerate()
            frames = sound.readframes(sound.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ProviderFailure(
            "local",
            "offline transcription reads WAV recordings only: convert this one first "
            "(for example: ffmpeg -i memo.mp3 memo.wav)",
        ) from exc
    if width not in (1, 2, 4):
        raise ProviderFailure("local", f"unsupported WAV sample width: {8 * width} bits")
    # A recording cut short (a copy or an upload that stopped) ends inside its last frame.
    frames = frames[: len(frames) - len(frames) % (width * channels)]
    kind = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    samples = np.frombuffer(frames, dtype=kind).astype(np.float32)
    if width == 1:
        samples = samples - 128.0
    samples /= float(2 ** (8 * width - 1))
    samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and len(samples):
        # Linear interpolation: enough for speech, whose content sits far below 8 kHz.
        count = round(len(samples) * SAMPLE_RATE / rate)
        samples = np.interp(
            np.arange(count) * (rate / SAMPLE_RATE), np.arange(len(samples)), samples
        ).astype(np.float32)
    return samples


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """The Slaney mel scale: linear to 1 kHz, logarithmic above."""
    mel = hz / (200.0 / 3)
    above = hz >= 1000.0
    mel[above] = 15.0 + np.log(hz[above] / 1000.0) / (np.log(6.4) / 27.0)
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = mel * (200.0 / 3)
    above = mel >= 15.0
    hz[above] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel[above] - 15.0))
    return hz


@cache
def mel_filters(n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular filters, (n_mels, N_FFT // 2 + 1)."""
    bins = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([8000.0]))[0], n_mels + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def log_mel(window: np.ndarray, n_mels: int) -> np.ndarray:
    """Whisper's input features of one 30-second window: (n_mels, 3000) float32."""
    audio = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    audio[: len(window)] = window[:WINDOW_SAMPLES]
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(frames * hann, axis=1)) ** 2
    mel = mel_filters(n_mels) @ power[:-1].T.astype(np.float32)
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)


class _Whisper:
    def __init__(self, folder: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.encoder = onnxruntime.InferenceSession(
            str(folder / ENCODER_FILE), providers=["CPUExecutionProvider"]
        )
        self.decoder = onnxruntime.InferenceSession(
            str(folder / DECODER_FILE), providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        mels = self.encoder.get_inputs()[0].shape[1]
        self.n_mels = mels if isinstance(mels, int) else 80
        token = self.tokenizer.token_to_id
        self.end = _required(token("<|endoftext|>"), "<|endoftext|>")
        self.start = _required(token("<|startoftranscript|>"), "<|startoftranscript|>")
        self.transcribe = token("<|transcribe|>")
        self.no_timestamps = token("<|notimestamps|>")
        translate = token("<|translate|>")
        # Multilingual models list their languages between these two tokens.
        self.languages = range(self.start + 1, translate) if translate else range(0)
        names = [i.name for i in self.decoder.get_inputs()]
        self.ids_input = "input_ids" if "input_ids" in names else names[0]
        self.states_input = next(n for n in names if n != self.ids_input)

    def _logits(self, tokens: list[int], states: Any) -> np.ndarray:
        ids = np.array([tokens], dtype=np.int64)
        logits = self.decoder.run(None, {self.ids_input: ids, self.states_input: states})[0]
        return np.asarray(logits[0, -1], dtype=np.float32)

    def _prompt(self, states: Any, language: str) -> list[int]:
        prompt = [self.start]
        if self.languages:
            asked = self.tokenizer.token_to_id(f"<|{language}|>") if language else None
            if asked is None:  # detect: the likeliest language token after the start
                scores = self._logits(prompt, states)[self.languages.start : self.languages.stop]
                asked = self.languages.start + int(np.argmax(scores))
            prompt.append(asked)
        prompt += [t for t in (self.transcribe, self.no_timestamps) if t is not None]
        return prompt

    def window_text(self, features: np.ndarray, language: str) -> str:
        states = self.encoder.run(None, {self.encoder.get_inputs()[0].name: features[None]})[0]
        tokens = self._prompt(states, language)
        first_new = len(tokens)
        for _ in range(MAX_NEW_TOKENS):
            logits = self._logits(tokens, states)
            logits[self.end + 1 :] = -np.inf  # special and timestamp tokens: never text
            choice = int(np.argmax(logits))
            if choice == self.end:
                break
            tokens.append(choice)
        return str(self.tokenizer.decode(tokens[first_new:], skip_special_tokens=True)).strip()


def _required(token_id: int | None, name: str) -> int:
    if token_id is None:
        raise ProviderFailure("local", f"the pulled Whisper tokenizer has no {name} token")
    return token_id


@cache
def _model(folder: str) -> _Whisper:
    return _Whisper(Path(folder))


def transcribe_wav(folder: Path, data: bytes, language: str = "") -> str:
    """The text spoken in a WAV recording, by the Whisper export pulled into `folder`."""
    samples = read_wav(data)
    if not len(samples):
        raise ProviderFailure("local", "the recording holds no samples")
    with _lock:
        model = _model(str(folder))
        texts = [
            model.window_text(
                log_mel(samples[start : start + WINDOW_SAMPLES], model.n_mels), language
            )
            for start in range(0, len(samples), WINDOW_SAMPLES)
        ]
    return " ".join(text for text in texts if text)
