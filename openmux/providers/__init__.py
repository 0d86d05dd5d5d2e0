"""Providers: adapters per protocol, their quirks, failure mapping and discovery.

The table of built-in providers is configuration (`openmux.config.BUILTIN_PROVIDERS`);
its names are re-exported here.
"""

from openmux.config import BUILTIN_PROVIDERS, ModelEntry, ProviderSpec
from openmux.providers._adapters import ModelPool, QuietAnswers
from openmux.providers._discovery import LocalDiscovery, list_models
from openmux.providers._failures import (
    FailureKind,
    ProviderFailure,
    failure_from_exception,
    local_cause,
    retry_after_seconds,
)
from openmux.providers._fetch import FetchError, bounded_get, listed_id
from openmux.providers._first_token import (
    Sends,
    StreamDone,
    answering_until,
    restart_clocks,
    watching_done,
    watching_sends,
)
from openmux.providers._http import watching_headers, watching_rate_limits
from openmux.providers._loop_lag import lagging as loop_lagging
from openmux.providers._media_formats import MIME_SUFFIXES, audio_seconds, rgb_png, sniff_mime
from openmux.providers._media_limits import (
    asked_formats,
    largest_recording,
    megabytes,
    recording_size,
    speech_formats,
    too_large_for,
)
from openmux.providers._media_parts import (
    MEDIA_FORMS,
    MediaForm,
    media_forms,
    sends,
    unsendable,
)
from openmux.providers._media_wires import MEDIA_OPTIONS, MEDIA_WIRES, media_missing, parse_size
from openmux.providers._network import NetworkProbe
from openmux.providers._quirks import adapt_openai_body, adapt_request, chosen_tool

__all__ = [
    "BUILTIN_PROVIDERS",
    "MEDIA_FORMS",
    "MEDIA_OPTIONS",
    "MEDIA_WIRES",
    "MIME_SUFFIXES",
    "FailureKind",
    "FetchError",
    "LocalDiscovery",
    "MediaForm",
    "ModelEntry",
    "ModelPool",
    "NetworkProbe",
    "ProviderFailure",
    "ProviderSpec",
    "QuietAnswers",
    "Sends",
    "StreamDone",
    "adapt_openai_body",
    "adapt_request",
    "answering_until",
    "asked_formats",
    "audio_seconds",
    "bounded_get",
    "chosen_tool",
    "failure_from_exception",
    "largest_recording",
    "list_models",
    "listed_id",
    "local_cause",
    "loop_lagging",
    "media_forms",
    "media_missing",
    "megabytes",
    "parse_size",
    "recording_size",
    "restart_clocks",
    "retry_after_seconds",
    "rgb_png",
    "sends",
    "sniff_mime",
    "speech_formats",
    "too_large_for",
    "unsendable",
    "watching_done",
    "watching_headers",
    "watching_rate_limits",
    "watching_sends",
]
