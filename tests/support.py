"""Running the service and the fake LLM as real processes on loopback, for whole-system tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment without any LLM or newsbrief settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBRIEF_", "OPENAI_"))}
    return env | extra


def start(
    args: list[str],
    env: dict[str, str],
    ready_url: str,
    log: IO[bytes] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `python -m service ARGS` and wait until ready_url answers 200.

    Its output goes to a file, never to a pipe nobody reads: a full pipe would block the process.
    """
    log = log or tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
    data = None
    if "NEWSBRIEF_DATA_DIR" not in env:  # a store of its own, never the checkout's ./data
        data = tempfile.TemporaryDirectory(prefix="newsbrief-data-")
        env = env | {"NEWSBRIEF_DATA_DIR": data.name}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=preexec_fn,  # e.g. a lower descriptor limit for the child alone
    )
    if data is not None:
        _DATA_DIRS[proc.pid] = data
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(log.read().decode(errors="replace"))
        try:
            if httpx.get(ready_url, timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"{args[0]} did not get ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    data = _DATA_DIRS.pop(proc.pid, None)
    if data is not None:
        data.cleanup()


# The data directories `start` made, by process id, removed when `stop` has ended the process.
_DATA_DIRS: dict[int, tempfile.TemporaryDirectory[str]] = {}


@contextmanager
def fake_llm(latency_s: float = 0.0) -> Iterator[str]:
    """A fake LLM server; yields its base URL (without /v1)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        ["fake-llm", "--port", str(port), "--latency", str(latency_s)],
        clean_env(),
        f"{url}/_fake/stats",
    )
    try:
        yield url
    finally:
        stop(proc)


@contextmanager
def service(
    log: IO[bytes] | None = None,
    preexec_fn: Callable[[], object] | None = None,
    **settings: str,
) -> Iterator[str]:
    """`newsbrief serve` with NEWSBRIEF_<KEY>=value settings; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(**{f"NEWSBRIEF_{k.upper()}": v for k, v in settings.items()})
    proc = start(["serve", "--port", str(port)], env, f"{url}/healthz", log, preexec_fn)
    try:
        yield url
    finally:
        stop(proc)


@contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `redis-server` on a free loopback port, nothing saved to disk; yields (url, proc).

    The process is handed out so a test can kill it mid-run. scripts/install-redis installs it.
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        proc = subprocess.Popen(
            ["redis-server", *args, "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0", proc
        finally:
            stop(proc)


@contextmanager
def pass_counter() -> Iterator[list[int]]:
    """count[0] goes up by one every pass of the running loop (a callback that re-arms itself
    runs once a pass)."""
    loop = asyncio.get_running_loop()
    count = [0]
    handle: asyncio.Handle | None = None

    def tick() -> None:
        nonlocal handle
        count[0] += 1
        handle = loop.call_soon(tick)

    tick()
    try:
        yield count
    finally:
        assert handle is not None
        handle.cancel()
