"""The exceptions OpenMux raises.

The hierarchy::

    OpenMuxError                     every error OpenMux raises on purpose
    ├── ConfigError                  a config file, env var or argument is wrong;
    │                                names the source (file and line) and the fix
    ├── UnsupportedTask              the task needs an output no configured provider
    │                                produces (image generation, speech, audio)
    ├── NoProviderAvailable          every candidate failed or none could be tried;
    │   │                            carries every attempt and a hint per provider
    │   └── InvalidRequest           none could be tried: the request itself is wrong
    │       │                        (a recording that is not base64, speech without
    │       │                        text), so no provider could take it
    │       ├── AudioFormatUnavailable  (also a ValueError) speech in an audio format
    │       │                        no speech model that would be asked makes
    │       └── LocalConversationRefused  (openmux.local; also a ValueError) a message
    │                                the local model cannot read or its template refuses,
    │                                a tool_choice naming no bound tool
    ├── StreamInterrupted            a provider failed after the first chunk reached
    │                                the caller; carries the partial text
    ├── ProviderFailure              (openmux.providers) one candidate's failure: the
    │                                failover stage catches it and records an attempt
    ├── SecretsError                 (openmux.config) a key could not be stored or read
    ├── FetchError                   (openmux.providers) a listing, key check or probe
    │                                made off the request path got no whole answer in
    │                                its time and size
    ├── RefreshError                 (openmux.catalog) a provider's model listing could
    │                                not be fetched or read
    ├── LocalModelUnavailable        (openmux.local; also an ImportError) the bundled
    │                                model or its runtime is not installed
    ├── LocalContextLengthError      (openmux.local; also a ValueError) the prompt does
    │                                not fit the local model's context
    ├── LocalGenerationTimeout       (openmux.local; also a TimeoutError) the local
    │                                model outlasted the total timeout
    ├── GGUFError                    (openmux.local; also a ValueError) a model file
    │                                this reader does not understand
    ├── LocalToolsUnsupported        (openmux.local; also a ValueError) the local model
    │                                was given a tool that is not a function; names what can
    ├── LocalStructuredOutputError   (openmux.local; also a ValueError) the local model's
    │                                JSON did not fit the schema, even after one repair
    ├── UnknownRun                   (openmux.quality; also a LookupError) a vote named
    │                                a run this machine has no answer for
    ├── RecordingTooLarge            (openmux.media; also a ValueError) a recording larger
    │                                than any transcription model that would be asked takes
    └── APIError                     (openmux.server) an answer in OpenAI's error shape:
                                     status, type, code, message
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AudioFormatUnavailable",
    "ConfigError",
    "InvalidRequest",
    "NoProviderAvailable",
    "OpenMuxError",
    "StreamInterrupted",
    "UnsupportedTask",
]


class OpenMuxError(Exception):
    """Base class of every error OpenMux raises on purpose."""


class ConfigError(OpenMuxError):
    """Configuration that cannot be used: says where it came from and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.fix = fix
        where = ""
        if source:
            where = f"{source}:{line}: " if line else f"{source}: "
        text = f"{where}{message}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)


class UnsupportedTask(OpenMuxError):
    """The request needs an output that no configured provider can produce.

    `forced` says whether the caller set the task (else it was classified); `hints` say
    what would serve the request; `text_answer` says how to get a text answer instead,
    with `{option}` where the task option goes. That option depends on where the request
    came from: `explain(text_option)` words it for that surface (`str()` uses Python's
    `task="chat"`; the CLI passes `--task chat`)."""

    PYTHON_TEXT_OPTION = 'task="chat"'

    def __init__(
        self,
        task: str,
        message: str,
        *,
        forced: bool = False,
        hints: Sequence[str] = (),
        text_answer: str | None = None,
    ) -> None:
        self.task = task
        self.forced = forced
        self.reason = message
        self.hints = list(hints)
        self.text_answer = text_answer
        super().__init__(self.explain(self.PYTHON_TEXT_OPTION))

    def explain(self, text_option: str) -> str:
        """The message, with `text_option` as the way to ask for a text answer."""
        hints = list(self.hints)
        if self.text_answer is not None:
            hints.append(self.text_answer.format(option=text_option))
        if not hints:
            return self.reason
        return self.reason + "\nTo fix:\n" + "\n".join(f"  - {hint}" for hint in hints)


def _describe_attempts(attempts: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for attempt in attempts:
        line = f"  - {attempt['provider']}:{attempt['model']}: {attempt['status']}"
        if attempt.get("error"):
            line += f" ({attempt['error']})"
        lines.append(line)
    return "\n".join(lines)


class NoProviderAvailable(OpenMuxError):
    """No candidate answered. `attempts` lists each try; `hints` says what would help."""

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Mapping[str, Any]] = (),
        hints: Sequence[str] = (),
    ) -> None:
        self.attempts = [dict(a) for a in attempts]
        self.hints = list(hints)
        text = message
        if self.attempts:
            text += "\nAttempts:\n" + _describe_attempts(self.attempts)
        if self.hints:
            text += "\nTo fix:\n" + "\n".join(f"  - {hint}" for hint in self.hints)
        super().__init__(text)


class InvalidRequest(NoProviderAvailable):
    """The caller's mistake, which no provider could take: none was asked, none is to
    blame. A NoProviderAvailable still, for callers that catch that; a server answers
    it as a bad request, never as a failure worth retrying."""


class AudioFormatUnavailable(InvalidRequest, ValueError):
    """Speech asked for in an audio format (mp3, wav) that no speech model that would be
    asked makes; the message names the formats they do make."""


class StreamInterrupted(OpenMuxError):
    """A provider failed mid-stream; failover is no longer possible without splicing."""

    def __init__(
        self,
        message: str,
        *,
        partial_text: str,
        attempts: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.partial_text = partial_text
        self.attempts = [dict(a) for a in attempts]
        text = f"{message} after {len(partial_text)} characters had been streamed"
        if self.attempts:
            text += "\nAttempts:\n" + _describe_attempts(self.attempts)
        super().__init__(text)
