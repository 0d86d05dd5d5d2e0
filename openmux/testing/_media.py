"""Real media made with the standard library: PNG images, WAV and MP3 sounds, and the
multipart form parser the fake's transcription endpoint reads uploads with.

The files are genuine (Pillow opens the PNG at its size; audio tools read the WAV's and
the MP3's duration), so tests check media as media rather than as opaque bytes.
"""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
from email.parser import BytesParser
from email.policy import HTTP

SPEECH_SECONDS_PER_CHARACTER = 0.06
MIN_SPEECH_SECONDS = 0.5

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono, no padding: 417-byte frames of 1152 samples.
_MP3_HEADER = b"\xff\xfb\x90\xc0"
_MP3_FRAME_BYTES = 417
_MP3_FRAME_SECONDS = 1152 / 44_100


def png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG of width x height: a gradient, so it is not one flat colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes(((x * 255) // max(width - 1, 1), (y * 255) // max(height - 1, 1), seed))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def speech_seconds(text: str) -> float:
    """How long the fake's speech of `text` lasts."""
    return max(MIN_SPEECH_SECONDS, len(text) * SPEECH_SECONDS_PER_CHARACTER)


def wav(seconds: float, sample_rate: int = 16_000, pitch_hz: float = 220.0) -> bytes:
    """A mono 16-bit WAV holding a tone of `seconds`."""
    count = int(seconds * sample_rate)
    samples = struct.pack(
        f"<{count}h",
        *(int(8000 * math.sin(2 * math.pi * pitch_hz * i / sample_rate)) for i in range(count)),
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(sample_rate)
        sound.writeframes(samples)
    return out.getvalue()


def pcm(seconds: float, sample_rate: int = 24_000) -> bytes:
    """Raw 16-bit mono samples (what Gemini's speech models return, base64-encoded)."""
    with wave.open(io.BytesIO(wav(seconds, sample_rate))) as sound:
        return sound.readframes(sound.getnframes())


def mp3(seconds: float) -> bytes:
    """An MP3 of `seconds` of silence: valid MPEG audio frames with empty side info."""
    frames = max(1, round(seconds / _MP3_FRAME_SECONDS))
    frame = _MP3_HEADER + bytes(_MP3_FRAME_BYTES - len(_MP3_HEADER))
    return frame * frames


def multipart_form(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body: field name -> (filename or None, value bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True)
            fields[str(name)] = (
                part.get_filename(),
                payload if isinstance(payload, bytes) else b"",
            )
    return fields
