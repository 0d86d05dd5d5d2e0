"""Opening a connection for the async pool (`_aio`): directly, through an http:// or
https:// proxy, or, for an https target behind a proxy, through its CONNECT tunnel; and
which proxy the environment names for an origin, as httpx reads it."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from openmux.providers._http1 import MAX_HEAD, Connection, Proxy, basic_credentials


def env_proxy(proxies: Mapping[str, str], scheme: str, host: str) -> Proxy | None:
    # NO_PROXY, as httpx reads it (the function is public, if missing from typeshed).
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    address = proxies.get(scheme) or proxies.get("all")
    if not address:
        return None
    if "://" not in address:
        address = "http://" + address  # as httpx reads a proxy given without a scheme
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"the {parts.scheme} proxy in the environment is not supported for async "
            "requests: give an http:// or https:// proxy in HTTP_PROXY / HTTPS_PROXY"
        )
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    return Proxy(parts.hostname, port, basic_credentials(parts), tls)


async def _tunnel(
    connection: Connection,
    proxy: Proxy,
    host: str,
    port: int,
    tls: ssl.SSLContext,
    errors: ModuleType,
) -> None:
    """An https connection through an HTTP proxy: CONNECT, then TLS inside the tunnel."""
    loop = asyncio.get_running_loop()
    raw, opening = await loop.create_connection(
        _TunnelOpening, proxy.host, proxy.port, **_proxy_tls(proxy, tls)
    )
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 in brackets
        lines = [f"CONNECT {authority} HTTP/1.1", f"host: {authority}"]
        if proxy.authorization:
            lines.append(f"proxy-authorization: {proxy.authorization}")
        raw.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status = await opening.status
        if status != b"200":
            raise errors.ProxyError(
                f"the proxy refused a tunnel to {host}:{port} (HTTP {status.decode('latin-1')})"
            )
        transport = await loop.start_tls(raw, connection, tls, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    assert transport is not None
    connection.connection_made(transport)


class _TunnelOpening(asyncio.Protocol):
    """A proxy's answer to CONNECT: its status, once its head has arrived."""

    def __init__(self) -> None:
        self.status: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._head = b""

    def data_received(self, data: bytes) -> None:
        self._head += data
        if b"\r\n\r\n" in self._head or len(self._head) > MAX_HEAD:
            parts = self._head.split(b" ", 2)
            if not self.status.done():
                self.status.set_result(parts[1] if len(parts) > 1 else b"?")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.status.done():
            self.status.set_exception(ConnectionResetError("the proxy closed the connection"))


def _proxy_tls(proxy: Proxy, context: ssl.SSLContext) -> dict[str, Any]:
    return {"ssl": context, "server_hostname": proxy.host} if proxy.tls else {}


async def open_connection(
    connection: Connection,
    origin: tuple[str, str, int],
    proxy: Proxy | None,
    tls_context: ssl.SSLContext,
    errors: ModuleType,
) -> None:
    """Connect `connection` to `origin`, directly or through `proxy`."""
    loop = asyncio.get_running_loop()
    scheme, host, port = origin
    tls = tls_context if scheme == "https" else None
    try:
        if proxy is None:
            await loop.create_connection(
                lambda: connection, host, port, ssl=tls, server_hostname=host if tls else None
            )
        elif tls is None:
            await loop.create_connection(
                lambda: connection, proxy.host, proxy.port, **_proxy_tls(proxy, tls_context)
            )
        else:
            await _tunnel(connection, proxy, host, port, tls, errors)
    except (OSError, ssl.SSLError) as exc:
        kind = errors.ProxyError if proxy is not None else errors.ConnectError
        where = f"the proxy {proxy.host}:{proxy.port}" if proxy else f"{host}:{port}"
        raise kind(f"cannot connect to {where}: {exc.strerror or exc}") from exc
