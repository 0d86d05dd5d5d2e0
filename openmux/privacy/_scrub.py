"""Scrubbing prompts before they leave the machine for a remote provider."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from openmux.config import PII_KINDS, PrivacySettings
from openmux.privacy._pii import scrub_text

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import Runnable

    from openmux.config import ProviderSettings


def _scrub_content(content: Any, kinds: Sequence[str]) -> Any:
    if isinstance(content, str):
        return scrub_text(content, kinds)
    if isinstance(content, list):
        blocks: list[Any] = []
        for block in content:
            if isinstance(block, str):
                blocks.append(scrub_text(block, kinds))
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                blocks.append({**block, "text": scrub_text(block["text"], kinds)})
            else:
                blocks.append(block)
        return blocks
    return content


def scrub_messages(
    messages: Sequence[BaseMessage], kinds: Iterable[str] = PII_KINDS
) -> list[BaseMessage]:
    """Copies of `messages` with personal data in their text replaced by placeholders."""
    wanted = tuple(kinds)
    out: list[BaseMessage] = []
    for message in messages:
        update: dict[str, Any] = {}
        content = _scrub_content(message.content, wanted)
        if content != message.content:
            update["content"] = content
        # A call the model made repeats what the user said ("mail a@b.io" -> send(to=...)),
        # and the client sends it with the conversation.
        for field in ("tool_calls", "invalid_tool_calls"):
            calls = getattr(message, field, None)
            if calls:
                scrubbed = [{**call, "args": _scrub_value(call["args"], wanted)} for call in calls]
                if scrubbed != calls:
                    update[field] = scrubbed
        out.append(message.model_copy(update=update) if update else message)
    return out


def _scrub_value(value: Any, kinds: Sequence[str]) -> Any:
    """`value` with the text at any depth scrubbed (tool-call arguments: JSON, or a string)."""
    if isinstance(value, str):
        return scrub_text(value, kinds)
    if isinstance(value, dict):
        return {key: _scrub_value(item, kinds) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_value(item, kinds) for item in value]
    return value


def scrub_for_provider(
    privacy: PrivacySettings | None,
    provider: ProviderSettings,
    messages: Sequence[BaseMessage],
) -> list[BaseMessage]:
    """What to send `provider`: scrubbed when scrub_pii is on and it is not on this machine."""
    if privacy is None or not scrubs_for(privacy, provider):
        return list(messages)
    return scrub_messages(messages, privacy.scrub_kinds)


def scrubs_for(privacy: PrivacySettings | None, provider: ProviderSettings) -> bool:
    """Whether what `provider` is sent gets scrubbed (scrub_pii on, a remote provider)."""
    return privacy is not None and privacy.scrub_pii and not provider.local


def scrub_texts_for_provider(
    privacy: PrivacySettings | None, provider: ProviderSettings, texts: list[str]
) -> list[str]:
    """`scrub_for_provider` for plain texts (what an embeddings model is sent)."""
    if privacy is None or not privacy.scrub_pii or provider.local:
        return texts
    return [scrub_text(text, privacy.scrub_kinds) for text in texts]


def pii_scrubber(kinds: Iterable[str] = PII_KINDS) -> Runnable[Any, Any]:
    """A Runnable for LCEL chains: scrubs a string, a list of messages or a prompt value."""
    from langchain_core.prompt_values import PromptValue
    from langchain_core.runnables import RunnableLambda

    wanted = tuple(kinds)

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return scrub_text(value, wanted)
        if isinstance(value, PromptValue):
            return scrub_messages(value.to_messages(), wanted)
        if isinstance(value, list):
            return scrub_messages(value, wanted)
        raise TypeError(f"cannot scrub a {type(value).__name__}")

    return RunnableLambda(scrub, name="scrub_pii")
