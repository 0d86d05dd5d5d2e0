"""Reading the config file: locate it, parse it, and point at the line of any mistake."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openmux.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE_NAME = "openmux.toml"


def user_config_dir() -> Path:
    from platformdirs import user_config_dir as _user_config_dir

    return Path(_user_config_dir("openmux", appauthor=False))


def locate_config_file(environ: Mapping[str, str], cwd: Path) -> Path | None:
    """`$OPENMUX_CONFIG`, else ./openmux.toml, else the user config dir's openmux.toml."""
    explicit = environ.get("OPENMUX_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise ConfigError(
                f"the config file named by OPENMUX_CONFIG {what}",
                source=str(path),
                fix="point OPENMUX_CONFIG at an existing openmux.toml or unset it",
            )
        return path
    for candidate in (cwd / CONFIG_FILE_NAME, user_config_dir() / CONFIG_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


_LINE_RE = re.compile(r"line (\d+)")


def read_config_file(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed table and the raw text (kept to name the line of later mistakes)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors may add a BOM
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "the config file is not UTF-8 text", source=str(path), fix="save it as UTF-8"
        ) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = _LINE_RE.search(str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError(
            f"invalid TOML: {exc}",
            source=str(path),
            line=line,
            fix="check quoting, brackets and `key = value` syntax on that line",
        ) from exc


def line_of(text: str, key: str, table: str | None = None) -> int | None:
    """The line where `key` is assigned (inside `[table]` when given), for error messages."""
    current: str | None = None
    key_re = re.compile(rf"^\s*(\"{re.escape(key)}\"|{re.escape(key)})\s*=")
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("["):
            current = stripped.strip("[] ")
            if table is not None and current == table and key == "":
                return number
            continue
        if (table is None or current == table) and key and key_re.match(raw):
            return number
    return None


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is this machine, in any spelling: `localhost.`,
    `[::ffff:127.0.0.1]`, `2130706433`, `0x7f.1`, `127.1`."""
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:  # a malformed bracketed host
        return False
    return host == "localhost" or host.endswith(".localhost") or is_loopback_host(host)


def is_loopback_host(host: str) -> bool:
    import ipaddress
    import socket

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the short and numeric IPv4 forms a resolver accepts (127.1, 2130706433)
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def env_flag(environ: Mapping[str, str], name: str) -> bool | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(
        f"{name}={value!r} is not a yes/no value",
        source="environment",
        fix=f"set {name}=1 or {name}=0",
    )


def getcwd() -> Path:
    return Path(os.getcwd())
