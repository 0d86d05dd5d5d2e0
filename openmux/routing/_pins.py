"""What a request pins: a provider and a model, from `model=` and `provider=`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openmux.errors import ConfigError
from openmux.routing._request import RouteRequest

if TYPE_CHECKING:
    from openmux.config import Settings


def request_pins(request: RouteRequest, settings: Settings) -> tuple[str | None, str | None]:
    """(pinned provider, model id) from `model=` and `provider=`; ConfigError on a clash."""
    pinned_provider, model_id = (None, None)
    if request.model:
        pinned_provider, model_id = split_model_name(request.model, settings)
    if request.provider:
        if request.provider not in settings.providers:
            raise ConfigError(
                f"unknown provider {request.provider!r}",
                source="provider=",
                fix=f"use one of: {', '.join(settings.providers)}",
            )
        if pinned_provider and pinned_provider != request.provider:
            raise ConfigError(
                f"model {request.model!r} pins provider {pinned_provider!r} "
                f"but provider={request.provider!r} was asked for",
                source="model=",
                fix="drop one of the two",
            )
        pinned_provider = request.provider
    return pinned_provider, model_id


def split_model_name(name: str, settings: Settings) -> tuple[str | None, str]:
    """`PROVIDER:ID` pins a provider only when PROVIDER is a configured provider name."""
    head, sep, tail = name.partition(":")
    if sep and head in settings.providers:
        return head, tail
    return None, name
