"""State on a Redis-protocol server (Redis >= 6, Valkey), shared by every host using it.

Keys: `openmux:b:SPACE:KEY` (a blob, with its TTL) listed in the sorted set
`openmux:bi:SPACE` (by expiry, so listing skips and drops dead entries);
`openmux:r:SPACE:NAME` (a record) listed in the set `openmux:i:SPACE`, whose version
counter is `openmux:v:SPACE`; `openmux:l:SPACE` (a log). Every call degrades through
`RedisLink`: None, False or nothing when the server is down, never an exception.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Literal

from openmux.state._redis_link import RedisLink

PREFIX = "openmux"
BLOB_BATCH = 256


def _blob_key(space: str, key: str) -> str:
    return f"{PREFIX}:b:{space}:{key}"


def _record_key(space: str, name: str) -> str:
    return f"{PREFIX}:r:{space}:{name}"


def _index_key(space: str) -> str:
    return f"{PREFIX}:i:{space}"


def _version_key(space: str) -> str:
    return f"{PREFIX}:v:{space}"


def _mget(client: Any, names: list[str]) -> list[bytes | None]:
    return list(client.mget(names))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class RedisShared:
    """`SharedState` over one `RedisLink`."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._shas: dict[str, str] = {}

    @property
    def up(self) -> bool:
        return self._link.up

    def _sha(self, text: str) -> str:
        sha = self._shas.get(text)
        if sha is None:
            sha = self._shas[text] = hashlib.sha1(text.encode()).hexdigest()
        return sha

    def _write(
        self, space: str, plan: Callable[[Any], None], scripts: Sequence[str]
    ) -> list[Any] | None:
        """Run `plan(pipeline)` and bump the space's version, all in one MULTI/EXEC round
        trip; the scripts are loaded (once per server start) only when it lacks them."""
        import redis

        def transaction(client: Any) -> list[Any]:
            for attempt in range(2):
                pipe = client.pipeline(transaction=True)
                plan(pipe)
                pipe.incr(_version_key(space))
                answers = list(pipe.execute(raise_on_error=False))
                errors = [a for a in answers if isinstance(a, redis.ResponseError)]
                if not errors:
                    return answers
                if not attempt and any(
                    isinstance(e, redis.exceptions.NoScriptError) for e in errors
                ):
                    for text in scripts:
                        client.script_load(text)
                    continue
                # The server ran the commands it did not refuse (a transaction is not
                # rolled back): sending them again would count them twice.
                self._link.refused(errors[0])
                return answers
            raise AssertionError("unreachable")

        return self._link.run(transaction, None)

    def merge(
        self, space: str, script: str, items: Sequence[tuple[Sequence[str], Sequence[object]]]
    ) -> bool:
        if not items:
            return True
        sha = self._sha(script)

        def plan(pipe: Any) -> None:
            names: set[str] = set()
            for record_names, args in items:
                keys = [_record_key(space, name) for name in record_names]
                pipe.evalsha(sha, len(keys), *keys, *args)
                names.update(record_names)
            pipe.sadd(_index_key(space), *sorted(names))

        return self._write(space, plan, [script]) is not None

    def call(
        self, space: str, script: str, names: Sequence[str], args: Sequence[object]
    ) -> object | None:
        sha = self._sha(script)

        def plan(pipe: Any) -> None:
            pipe.evalsha(sha, len(names), *[_record_key(space, n) for n in names], *args)
            if names:
                pipe.sadd(_index_key(space), *names)

        answers = self._write(space, plan, [script])
        return None if answers is None else answers[0]

    def records(self, space: str) -> dict[str, dict[str, str]] | None:
        def read(client: Any) -> dict[str, dict[str, str]]:
            names = sorted(_text(n) for n in client.smembers(_index_key(space)))
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(_record_key(space, name))
            found: dict[str, dict[str, str]] = {}
            gone = []
            for name, fields in zip(names, pipe.execute(), strict=True):
                if fields:
                    found[name] = {_text(k): _text(v) for k, v in fields.items()}
                else:
                    gone.append(name)  # expired: forget it in the index too
            if gone:
                client.srem(_index_key(space), *gone)
            return found

        return self._link.run(read, None)

    def version(self, space: str) -> int | None:
        import redis

        def read(client: Any) -> int:
            value = client.get(_version_key(space))
            try:
                return int(value or 0)
            except ValueError:
                raise redis.ResponseError(f"{_version_key(space)} is not an integer") from None

        return self._link.run(read, None)

    def append(self, space: str, items: Sequence[bytes], keep: int) -> bool:
        if not items:
            return True
        key = f"{PREFIX}:l:{space}"

        def plan(pipe: Any) -> None:
            pipe.rpush(key, *items)
            pipe.ltrim(key, -keep, -1)

        return self._write(space, plan, []) is not None

    def items(self, space: str) -> list[bytes] | None:
        return self._link.run(
            lambda client: list(client.lrange(f"{PREFIX}:l:{space}", 0, -1)), None
        )

    def on_sync(self, hook: Callable[[], None]) -> None:
        self._link.on_sync(hook)

    def wake(self) -> None:
        self._link.wake()


class RedisBackend:
    """Thread-safe; one per state url per process (see `state_backend`)."""

    name: Literal["redis"] = "redis"

    def __init__(self, url: str, password: str | None = None) -> None:
        self.link = RedisLink(url, password)
        self.shared = RedisShared(self.link)

    def get_blob(self, space: str, key: str) -> bytes | None:
        found = self.link.run(lambda client: client.get(_blob_key(space, key)), None)
        return bytes(found) if found is not None else None

    def put_blob(self, space: str, key: str, value: bytes, ttl_s: float) -> None:
        ttl_ms = max(1, int(ttl_s * 1000))
        expires_ms = int(time.time() * 1000) + ttl_ms

        def store(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.set(_blob_key(space, key), value, px=ttl_ms)
            pipe.zadd(f"{PREFIX}:bi:{space}", {key: expires_ms})
            pipe.execute()

        self.link.run(store, None)

    def blobs(self, space: str) -> Iterator[tuple[str, bytes]]:
        index = f"{PREFIX}:bi:{space}"

        def live_keys(client: Any) -> list[str]:
            now_ms = int(time.time() * 1000)
            client.zremrangebyscore(index, "-inf", now_ms)
            return [_text(k) for k in client.zrangebyscore(index, now_ms + 1, "+inf")]

        no_keys: list[str] = []
        keys = self.link.run(live_keys, no_keys)
        for start in range(0, len(keys), BLOB_BATCH):
            batch = keys[start : start + BLOB_BATCH]
            names = [_blob_key(space, k) for k in batch]
            values = self.link.run(partial(_mget, names=names), None)
            if values is None:
                return
            for key, value in zip(batch, values, strict=True):
                if value is not None:  # expired between the two reads
                    yield key, bytes(value)

    def describe(self) -> str:
        return self.link.shown

    def check(self) -> str:
        self.link.ping(background=True)
        return "" if self.link.up else f"unreachable ({self.link.problem})"

    def close(self) -> None:
        self.link.close()
