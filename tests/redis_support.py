"""Real Redis for tests: the REDIS_URL server (fail in CI when unreachable, else skip) and private servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_url() -> str:
    """The Redis the tests use: ``REDIS_URL`` or the local default."""
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


def unavailable(reason: str) -> None:
    """Fail in CI (a missing Redis is a broken setup there), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Redis is required in CI: {reason}")
    pytest.skip(reason)


async def connect(url: str | None = None) -> aioredis.Redis:
    """A client of the test Redis, checked with PING."""
    url = url or redis_url()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, aioredis.ConnectionError, aioredis.TimeoutError) as exc:
        await client.aclose()
        unavailable(f"no Redis at {url}: {exc}")
    return client


async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """Body of a fixture: a client, closed afterwards."""
    client = await connect()
    try:
        yield client
    finally:
        await client.aclose()


async def key_prefix(client: aioredis.Redis) -> AsyncIterator[str]:
    """Body of a fixture: a fresh key prefix whose keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)


def free_port() -> int:
    """A loopback TCP port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A throw-away ``redis-server`` on a fixed loopback port that tests stop and start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            unavailable("redis-server is not installed")
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)
            self._proc = None


def require_redis_sync(url: str | None = None) -> str:
    """The test Redis URL, after a synchronous PING (fail in CI, skip elsewhere, when unreachable)."""
    import redis

    url = url or redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except (OSError, redis.ConnectionError, redis.TimeoutError) as exc:
        unavailable(f"no Redis at {url}: {exc}")
    finally:
        client.close()
    return url


def delete_prefix_sync(url: str, prefix: str) -> None:
    """Delete every key under ``prefix``."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
