"""ChatOpenMux's constructor arguments, as a pydantic base class (as langchain-openai's
BaseChatOpenAI holds ChatOpenAI's), checked for misspellings before pydantic sees them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, Field, SecretStr, model_validator

from openmux.config import check_arguments


class ChatOpenMuxFields(BaseChatModel):
    """The fields of `ChatOpenMux`; the model itself is in `openmux.chat_models`."""

    model: str | None = None
    """Pin a model: `"ID"` at any provider, or `"PROVIDER:ID"`."""
    provider: str | None = None
    """Pin a provider id (e.g. `"groq"`)."""
    task: str | None = None
    """Skip classification and route as this task (chat, code, ...)."""
    providers: list[str] | None = None
    """Allowed providers, in tie-break order (the config's `[router] providers`)."""
    strategy: Literal["best", "ordered"] | None = None
    free_only: bool | None = None
    max_attempts: int | None = None
    """Provider attempts per request, failover included (`[router] max_attempts`)."""
    max_retries: int | None = None
    """LangChain's name for `max_attempts - 1`: the router owns retries and failover."""
    hedge_after_ms: float | Literal[False] | None = None
    """Start a second candidate after this long with no first token (False: never)."""
    hedge_tools: bool | None = None
    """Hedge requests with tools bound too (tools may have side effects)."""
    policy: Literal["quality", "latency", "balanced"] | None = None
    prefer: list[str] | None = None
    """Models ("ID", "PROVIDER:ID") or providers tried first, in this order."""
    exclude: list[str] | None = None
    """Models or providers never chosen automatically."""
    offline: bool | None = None
    timeout: float | None = None
    """Total seconds per provider call (`[timeouts] total`)."""
    connect_timeout: float | None = None
    first_token_timeout: float | None = None
    """Seconds to the first token; keep-alive comments are not tokens."""
    streaming: bool = False
    """Stream from the provider even on `invoke`, so callbacks see each token."""
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    api_keys: dict[str, SecretStr] | None = Field(default=None, repr=False, exclude=True)
    """Keys by provider id; they take precedence over the environment."""
    config: dict[str, Any] | None = None
    """Overrides in the shape of openmux.toml (`{"providers": {...}, "timeouts": {...}}`)."""
    classifier: Any = Field(default=None, exclude=True)
    """A callable or Runnable returning a TaskClassification."""
    fanout: int | list[str] | None = None
    """Ask several models at once: the top N distinct models, or these model names (0: off)."""
    combiner: str | None = None
    """How fan-out answers become one: best (default), vote, concat, summarize, local-summarize."""
    judge: str | None = None
    """The model that judges (best) or merges (summarize); default: the top candidate."""
    min_answers: int = 1
    """Fan-out fails unless at least this many members answer."""
    member_timeout: float | None = None
    """Seconds a fan-out member may take before it is left out."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _known_arguments(cls, values: Any) -> Any:
        # pydantic would drop a misspelt argument silently (hedge_after=300 did nothing).
        if isinstance(values, Mapping):
            accepted = set(cls.model_fields)
            accepted.update(f.alias for f in cls.model_fields.values() if f.alias)
            check_arguments(cls.__name__, values, accepted)
        return values
