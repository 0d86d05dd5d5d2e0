"""Media in the configuration: the Cloudflare row, media model lists, and media bytes facts."""

from __future__ import annotations

import pytest

from openmux import ConfigError
from openmux.config import load_settings
from openmux.providers import BUILTIN_PROVIDERS, MEDIA_WIRES, audio_seconds, sniff_mime
from openmux.testing._media import mp3, png, wav


def test_cloudflare_url_takes_the_account_id_from_the_environment() -> None:
    settings = load_settings(
        environ={"CLOUDFLARE_API_TOKEN": "token", "CLOUDFLARE_ACCOUNT_ID": "abc123"}
    )
    cloudflare = settings.providers["cloudflare"]
    assert cloudflare.base_url == "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1"
    assert cloudflare.usable and cloudflare.free


def test_cloudflare_without_an_account_id_is_not_usable_and_says_what_to_set() -> None:
    cloudflare = load_settings(environ={"CLOUDFLARE_API_TOKEN": "token"}).providers["cloudflare"]
    assert not cloudflare.usable
    assert "set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID" in cloudflare.hint()


def test_media_lists_keep_known_wires_and_default_to_openai() -> None:
    settings = load_settings(
        {"providers": {"cloudflare": {"speech_models": ["@cf/deepgram/aura-1", "@cf/new-tts"]}}},
        environ={},
    )
    speech = {
        m.id: m.wire for m in settings.providers["cloudflare"].media_models if m.makes == "speech"
    }
    assert speech == {"@cf/deepgram/aura-1": "cloudflare-aura", "@cf/new-tts": "openai-speech"}
    images = [m for m in settings.providers["cloudflare"].media_models if m.makes == "image"]
    assert [m.id for m in images] == ["@cf/black-forest-labs/flux-1-schnell"]


def test_a_media_list_must_be_strings() -> None:
    with pytest.raises(ConfigError, match="image_models"):
        load_settings({"providers": {"groq": {"image_models": "flux"}}}, environ={})


def test_every_table_media_model_names_a_wire_that_makes_it_and_a_source() -> None:
    for spec in BUILTIN_PROVIDERS:
        for model in spec.media_models:
            assert MEDIA_WIRES[model.wire].makes == model.makes, model.id
            if spec.free and not spec.local:
                assert "2026" in model.source, model.id  # dated: free allowances change


def test_media_facts_from_the_bytes() -> None:
    assert sniff_mime(png(3, 2)) == "image/png"
    assert sniff_mime(wav(0.5)) == "audio/wav"
    assert sniff_mime(mp3(0.5)) == "audio/mpeg"
    assert audio_seconds(wav(1.25)) == pytest.approx(1.25, abs=0.001)
    assert audio_seconds(mp3(2.0)) == pytest.approx(2.0, abs=0.03)
    assert audio_seconds(b"not audio") is None


def test_a_wav_header_counts_only_the_frames_that_are_there() -> None:
    sound = bytearray(wav(1.0))
    at = sound.index(b"data")
    # What a recorder streaming to a pipe writes: sizes it could not know, set to the most.
    sound[4:8] = sound[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    assert audio_seconds(bytes(sound)) == pytest.approx(1.0, abs=0.001)
    assert audio_seconds(wav(1.0)[:-16_000]) == pytest.approx(0.5, abs=0.001)
