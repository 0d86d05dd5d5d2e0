"""The media adapter: a chat model whose answer is an image, speech or a transcript.

The router calls media models exactly as it calls chat models (the same candidate,
failover, benching and free rules), so a media model *is* a LangChain chat model:
given the conversation, it sends the last user turn in its wire format (`_media_wires`)
and answers with an AIMessage holding a standard image or audio content block
(base64 + mime_type), or the transcript as text. `response_metadata["media_units"]`
says what the answer used (images, audio seconds, characters) for quotas to count.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from openmux.config import MediaKind
from openmux.errors import ConfigError, InvalidRequest
from openmux.providers import _http
from openmux.providers._failures import ProviderFailure, failure_from_status
from openmux.providers._media_formats import AUDIO_FORMAT_MIMES, audio_seconds, sniff_mime
from openmux.providers._media_limits import (
    asked_formats,
    media_row,
    recording_of,
    speech_formats,
)
from openmux.providers._media_wires import (
    MEDIA_WIRES,
    HttpCall,
    MediaInput,
    MediaOutput,
    Reply,
    Wire,
    parse_size,
)

if TYPE_CHECKING:
    from openmux.config import ProviderSettings, Timeouts

_BLOCK_TYPES = {"image": "image", "speech": "audio"}


class MediaAnswers(BaseChatModel):
    """One media model at one provider, speaking one wire format."""

    provider: Any
    """The ProviderSettings (its key stays inside; never shown in a repr)."""
    model: str
    wire: str
    voice: str = ""
    timeouts: Any

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def __repr_args__(self) -> Any:
        return [("provider", self.provider.name), ("model", self.model), ("wire", self.wire)]

    @property
    def _llm_type(self) -> str:
        return f"openmux-media-{self.wire}"

    @property
    def makes(self) -> MediaKind:
        return MEDIA_WIRES[self.wire].makes

    # -- the request ----------------------------------------------------------------------

    def _ask(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> MediaInput:
        """The request in this model's terms. One it cannot be (no prompt, a recording that
        is not base64, a size that is no size) is the caller's mistake: no other model
        would take it either, and it benches none."""
        try:
            return self._input(messages, kwargs)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc

    def _input(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> MediaInput:
        turn = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        if turn is None:
            raise ValueError("a media request needs a user message")
        text, audio, audio_mime = _turn_parts(turn)
        if self.makes == "transcription" and not audio:
            raise ValueError("a transcription request needs an audio content block")
        if self.makes != "transcription" and not text.strip():
            raise ValueError(f"a {self.makes} request needs a text prompt")
        size = kwargs.get("size")
        return MediaInput(
            model=self.model,
            text=text,
            audio=audio,
            audio_mime=audio_mime,
            size=parse_size(size) if size else None,
            voice=str(kwargs.get("voice") or self.voice),
            audio_format=self._format(kwargs.get("audio_format")),
            language=str(kwargs.get("language") or ""),
        )

    def _check_format(self, output: MediaOutput, asked: Any) -> None:
        """Speech in a format the request did not ask for (from a server that ignores
        response_format) is this model not making the asked one: the next model is asked,
        and this one is not benched, as a refusal of the format would not bench it."""
        formats = asked_formats(asked) if self.makes == "speech" else ()
        if formats and output.mime_type not in {AUDIO_FORMAT_MIMES.get(f) for f in formats}:
            raise ProviderFailure(
                "http_4xx",
                f"{' or '.join(formats)} was asked for; the answer is {output.mime_type}",
            )

    def _format(self, asked: Any) -> str:
        """The first of the asked formats this model makes ("": none asked, its own)."""
        if self.makes != "speech":
            return ""
        made = speech_formats(self.provider, self.model)
        return next((name for name in asked_formats(asked) if name in made), "")

    def _message(self, ask: MediaInput, output: MediaOutput, kwargs: dict[str, Any]) -> AIMessage:
        self._check_format(output, kwargs.get("audio_format"))
        units: dict[str, float] = {}
        if output.text is not None:
            heard = audio_seconds(ask.audio)
            if heard is not None:
                units["audio_seconds"] = round(heard, 3)
            return AIMessage(content=output.text, response_metadata={"media_units": units})
        block = {
            "type": _BLOCK_TYPES[self.makes],
            "base64": base64.b64encode(output.data).decode("ascii"),
            "mime_type": output.mime_type,
        }
        if self.makes == "image":
            units["images"] = 1
        else:
            units["characters"] = len(ask.text)
            seconds = audio_seconds(output.data)
            if seconds is not None:
                units["audio_seconds"] = round(seconds, 3)
        return AIMessage(content=[block], response_metadata={"media_units": units})

    def _timeout(self) -> Any:
        timeouts = self.timeouts
        # Media takes longer than a first token: wait for the whole answer, up to total.
        return _http.timeout(timeouts.connect, timeouts.total, timeouts.total)

    # -- sync -----------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        ask = self._ask(messages, kwargs)
        wire = MEDIA_WIRES[self.wire]
        if wire.engine is not None:
            output = wire.engine(ask)
        else:
            output = _read(wire, self._send(_http.sync_client(), _build(wire, self.provider, ask)))
        if output.fetch is not None:
            output = self._download(_http.sync_client(), output.fetch)
        return ChatResult(generations=[ChatGeneration(message=self._message(ask, output, kwargs))])

    def _send(self, client: Any, call: HttpCall) -> Reply:
        response = _answered(client.post(call.url, **_body(call), timeout=self._timeout()))
        return Reply(headers=dict(response.headers), body=response.content)

    def _download(self, client: Any, url: str) -> MediaOutput:
        return _downloaded(_answered(client.get(url, timeout=self._timeout())).content)

    # -- async ----------------------------------------------------------------------------

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        ask = self._ask(messages, kwargs)
        wire = MEDIA_WIRES[self.wire]
        if wire.engine is not None:
            output = await asyncio.to_thread(wire.engine, ask)
            return ChatResult(
                generations=[ChatGeneration(message=self._message(ask, output, kwargs))]
            )
        client = _http.async_client(asyncio.get_running_loop())
        call = _build(wire, self.provider, ask)
        response = _answered(await client.post(call.url, **_body(call), timeout=self._timeout()))
        output = _read(wire, Reply(headers=dict(response.headers), body=response.content))
        if output.fetch is not None:
            fetched = _answered(await client.get(output.fetch, timeout=self._timeout()))
            output = _downloaded(fetched.content)
        return ChatResult(generations=[ChatGeneration(message=self._message(ask, output, kwargs))])


def _answered(response: Any) -> Any:
    """The response of a 2xx; else the provider's failure read from its error body as a
    chat answer's is, so the error names the provider's reason (a refusal's, a rate
    limit's) and a 429 keeps what it says about the quota."""
    if not 200 <= response.status_code < 300:
        raise failure_from_status(response.status_code, response.headers, response.content)
    return response


def _build(wire: Wire, provider: ProviderSettings, ask: MediaInput) -> HttpCall:
    assert wire.build is not None  # an HTTP wire: every row has build and read, or an engine
    return wire.build(provider, ask)


def _read(wire: Wire, reply: Reply) -> MediaOutput:
    assert wire.read is not None
    return wire.read(reply)


def _body(call: HttpCall) -> dict[str, Any]:
    body: dict[str, Any] = {"headers": dict(call.headers)}
    if call.json is not None:
        body["json"] = call.json
    if call.content is not None:
        body["content"] = call.content
    if call.files is not None:
        body["files"] = dict(call.files)
        body["data"] = dict(call.data or {})
    return body


def _downloaded(data: bytes) -> MediaOutput:
    mime = sniff_mime(data, fallback="")
    if not mime.startswith("image/"):
        raise ProviderFailure("bad_response", "the image link did not lead to an image")
    return MediaOutput(data=data, mime_type=mime)


def _turn_parts(turn: BaseMessage) -> tuple[str, bytes, str]:
    """The text and the first recording of a user turn (standard, OpenAI or v0 blocks)."""
    if isinstance(turn.content, str):
        return turn.content, b"", ""
    texts: list[str] = []
    audio, mime = b"", ""
    for block in turn.content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif isinstance(block, dict) and not audio:
            audio, mime = _audio_block(block)
    return "\n".join(texts), audio, mime


def _audio_block(block: dict[str, Any]) -> tuple[bytes, str]:
    kind = block.get("type")
    if kind not in ("input_audio", "audio"):
        return b"", ""
    data = _recording(recording_of(block))
    if kind == "input_audio":  # OpenAI: {"input_audio": {"data", "format"}}
        declared = (block.get("input_audio") or {}).get("format", "wav")
        return data, sniff_mime(data, f"audio/{declared}")
    return data, str(block.get("mime_type") or sniff_mime(data, "audio/wav"))


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _recording(encoded: Any) -> bytes:
    try:
        if isinstance(encoded, str):
            # Checked and decoded as the text it is: b64decode would first copy it to bytes.
            if not _BASE64.fullmatch(encoded):
                raise ValueError("not base64")
            return binascii.a2b_base64(encoded)
        return base64.b64decode(encoded or "", validate=True)
    except (TypeError, ValueError) as exc:
        raise ValueError("the recording in the audio content block is not base64") from exc


def media_chat_model(
    provider: ProviderSettings,
    model: str,
    kind: MediaKind,
    timeouts: Timeouts,
) -> MediaAnswers:
    """The adapter for `model` at `provider`: its table row's wire format, else OpenAI's."""
    entry = media_row(provider, model, kind)
    if entry.wire not in MEDIA_WIRES or MEDIA_WIRES[entry.wire].makes != kind:
        raise ConfigError(
            f"{provider.name}:{model} names wire format {entry.wire!r}, which makes no {kind}",
            fix=f"use one of: {', '.join(w for w, r in MEDIA_WIRES.items() if r.makes == kind)}",
        )
    return MediaAnswers(
        provider=provider, model=model, wire=entry.wire, voice=entry.voice, timeouts=timeouts
    )
