"""Real media made with the standard library: PNG and JPEG images, WAV and MP3 sounds, and
the multipart form parser the fake's transcription endpoint reads uploads with.

The files are genuine (Pillow opens the PNG or JPEG at its size; audio tools read the WAV's and
the MP3's duration), so tests check media as media rather than as opaque bytes.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from email.parser import BytesParser
from email.policy import HTTP

from openmux.providers import rgb_png

SPEECH_SECONDS_PER_CHARACTER = 0.06
MIN_SPEECH_SECONDS = 0.5

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono, no padding: 417-byte frames of 1152 samples.
_MP3_HEADER = b"\xff\xfb\x90\xc0"
_MP3_FRAME_BYTES = 417
_MP3_FRAME_SECONDS = 1152 / 44_100


def png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG of width x height: a gradient, so it is not one flat colour."""
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            pixels += bytes(((x * 255) // max(width - 1, 1), (y * 255) // max(height - 1, 1), seed))
    return rgb_png(bytes(pixels), width, height)


# Baseline JPEG (ITU T.81): the standard luminance DC Huffman table (Annex K.3) and an AC
# table holding only end-of-block, since every 8x8 block here is one flat colour.
_JPEG_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_JPEG_AC_BITS = (1,) + (0,) * 15
_JPEG_END_OF_BLOCK = 0x00


def _huffman_codes(bits: tuple[int, ...], symbols: range | tuple[int, ...]) -> dict[int, str]:
    codes: dict[int, str] = {}
    code, index = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[symbols[index]] = format(code, f"0{length}b")
            code, index = code + 1, index + 1
        code <<= 1
    return codes


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A baseline colour JPEG of width x height (what Cloudflare's flux-1-schnell sends):
    8x8 blocks of flat colour forming a gradient, so it is not one flat colour."""
    dc_codes = _huffman_codes(_JPEG_DC_BITS, range(12))
    end_of_block = _huffman_codes(_JPEG_AC_BITS, (_JPEG_END_OF_BLOCK,))[_JPEG_END_OF_BLOCK]
    columns, rows = -(-width // 8), -(-height // 8)
    bits: list[str] = []
    previous = [0, 0, 0]
    for row in range(rows):
        for column in range(columns):
            # Y, Cb, Cr levels of this block; with quantisation 1, DC = 8 * (level - 128).
            levels = (
                255 * column // max(columns - 1, 1),
                255 * row // max(rows - 1, 1),
                seed % 256,
            )
            for component, level in enumerate(levels):
                dc = 8 * (level - 128)
                diff, previous[component] = dc - previous[component], dc
                size = abs(diff).bit_length()
                bits.append(dc_codes[size])
                if size:
                    bits.append(format(diff if diff > 0 else diff + (1 << size) - 1, f"0{size}b"))
                bits.append(end_of_block)
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    scan = bytes(int(stream[i : i + 8], 2) for i in range(0, len(stream), 8))
    scan = scan.replace(b"\xff", b"\xff\x00")
    components = b"".join(bytes((n, 0x11, 0)) for n in (1, 2, 3))
    return (
        b"\xff\xd8"
        + _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + _jpeg_segment(0xDB, b"\x00" + bytes([1] * 64))
        + _jpeg_segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + components)
        + _jpeg_segment(0xC4, b"\x00" + bytes(_JPEG_DC_BITS) + bytes(range(12)))
        + _jpeg_segment(0xC4, b"\x10" + bytes(_JPEG_AC_BITS) + bytes((_JPEG_END_OF_BLOCK,)))
        + _jpeg_segment(0xDA, b"\x03" + bytes((1, 0x00, 2, 0x00, 3, 0x00)) + b"\x00\x3f\x00")
        + scan
        + b"\xff\xd9"
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
