"""Media bytes: what a file is (from its first bytes), how long a sound lasts, PCM to WAV,
RGB pixels to PNG.

Standard library only: the router needs these facts (a reply's mime type, the audio
seconds a quota counts) without any audio or imaging package installed.
"""

from __future__ import annotations

import io
import struct
import wave
import zlib

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"WAVE", 8, "audio/wav"),
    (b"ID3", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
)

MIME_SUFFIXES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
}

#: The mime type of each audio format a speech request can name (OpenAI's response_format
#: values whose bytes sniff_mime knows; its opus comes in an Ogg file).
AUDIO_FORMAT_MIMES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "opus": "audio/ogg",
}

# MPEG-1 Layer III bitrates (kbit/s) and sample rates by header index; MPEG-2/2.5 halve them.
_MP3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def sniff_mime(data: bytes, fallback: str = "application/octet-stream") -> str:
    """The mime type the bytes themselves show (a provider's header may say less)."""
    for magic, offset, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MPEG audio frame with no ID3 tag
    return fallback


def audio_seconds(data: bytes) -> float | None:
    """The duration of a WAV or MP3, or None for another or a broken file."""
    mime = sniff_mime(data)
    if mime == "audio/wav":
        stream = io.BytesIO(data)
        try:
            with wave.open(stream) as sound:
                # The header's count can exceed the bytes: a recording streamed to a pipe
                # declares the largest size, one cut short still declares its whole length.
                # Opening leaves the stream at the first frame.
                there = (len(data) - stream.tell()) // (sound.getsampwidth() * sound.getnchannels())
                return min(sound.getnframes(), there) / float(sound.getframerate())
        except (wave.Error, EOFError, ZeroDivisionError):
            return None
    if mime == "audio/mpeg":
        return _mp3_seconds(data)
    return None


def _mp3_seconds(data: bytes) -> float | None:
    position = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # skip the tag: a syncsafe 28-bit size
        size = data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]
        position = 10 + size
    seconds = 0.0
    frames = 0
    while position + 4 <= len(data):
        header = struct.unpack(">I", data[position : position + 4])[0]
        if header >> 21 != 0x7FF:
            break
        version = (header >> 19) & 3
        bitrate_index = (header >> 12) & 0xF
        rate_index = (header >> 10) & 3
        if version == 1 or bitrate_index in (0, 15) or rate_index == 3:
            break
        padding = (header >> 9) & 1
        rate = _MP3_RATES[version][rate_index]
        kbps = (_MP3_KBPS if version == 3 else _MP3_KBPS_V2)[bitrate_index]
        samples = 1152 if version == 3 else 576
        length = samples // 8 * kbps * 1000 // rate + padding
        seconds += samples / rate
        frames += 1
        position += length
    return seconds if frames else None


def pcm16_to_wav(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Raw signed 16-bit little-endian samples in a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(channels)
        sound.setsampwidth(2)
        sound.setframerate(sample_rate)
        sound.writeframes(pcm)
    return out.getvalue()


def rgb_png(pixels: bytes, width: int, height: int) -> bytes:
    """8-bit RGB pixels, row by row (width * height * 3 bytes), as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    stride = width * 3
    rows = b"".join(b"\0" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
