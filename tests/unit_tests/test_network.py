"""Offline detection: bounded, cached, and honest about proxies."""

from __future__ import annotations

import socket

import pytest

from openmux.providers._network import NetworkProbe


def test_reachable_loopback_is_online() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert NetworkProbe().online([f"http://127.0.0.1:{port}/v1"]) is True


def test_unresolvable_and_refused_hosts_are_offline() -> None:
    probe = NetworkProbe()
    assert probe.online(["https://no-such-host.invalid/v1", "http://127.0.0.1:9/v1"]) is False
    assert probe.online(["https://no-such-host.invalid/v1"]) is False  # cached answer


def test_a_proxy_means_requests_must_try(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert NetworkProbe().online(["https://no-such-host.invalid/v1"]) is True


def test_offline_router_uses_local_providers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.messages import HumanMessage

    from openmux.config import load_settings
    from openmux.routing import Router, RouteRequest, plan

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-offline-test-000")
    settings = load_settings(
        {
            "router": {"providers": ["openrouter", "mylocal"]},
            "providers": {
                "openrouter": {"base_url": "https://no-such-host.invalid/api/v1"},
                "mylocal": {
                    "protocol": "openai",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["m"],
                },
            },
        }
    )
    planned = plan(Router(settings), RouteRequest(messages=[HumanMessage("hi")], task="chat"))
    assert planned.offline is True
    assert [c.provider.name for c in planned.candidates] == ["mylocal"]
