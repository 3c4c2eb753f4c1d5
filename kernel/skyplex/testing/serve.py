"""``skyplex serve`` in a process of its own, for tests and benchmarks that need the real gateway.

The gateway runs as it is deployed (its own interpreter, uvicorn on a loopback port); the context
manager waits for ``/healthz`` to answer 200, hands back where it listens, and stops the process
afterwards. httpx is imported only when a gateway is started, so importing ``skyplex.testing`` stays
light.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

#: How much of the gateway's output an error shows.
LOG_TAIL_CHARS = 2000
#: A port picked here can be taken by another process before the gateway binds it; then the start
#: is retried on a fresh port this many times in all.
PORT_ATTEMPTS = 3
_PORT_TAKEN = ("address already in use", "errno 98", "only one usage of each socket address")


@dataclass
class GatewayProcess:
    """A running ``skyplex serve``: where it listens, its process, and what it has printed."""

    url: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    def log_text(self) -> str:
        """Everything the gateway has written to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def skyplex_command() -> str:
    """The ``skyplex`` console script installed beside the running interpreter."""
    return str(Path(sys.executable).parent / "skyplex")


@contextmanager
def gateway_process(
    *,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    limit_s: float = 600.0,
    log_path: Path | None = None,
) -> Iterator[GatewayProcess]:
    """Start ``skyplex serve --port PORT *extra_args`` and yield it once ``/healthz`` answers 200.

    ``env`` is added to ``os.environ``; stdout and stderr go to ``log_path`` (a temporary file when not
    given). If the process exits before it is healthy, or ``limit_s`` passes (a guard against a hung
    start, not a timing assertion), ``AssertionError`` carries the last 2000 characters of its output.
    On leaving, the process is terminated, given 20 s, then killed.
    """
    with ExitStack() as stack:
        if log_path is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="skyplex-serve-")))
            log_path = log_dir / "gateway.log"
        attempts = 1 if port is not None else PORT_ATTEMPTS
        for attempt in range(attempts):
            chosen = port if port is not None else free_loopback_port()
            gateway = _start(chosen, env, extra_args, log_path)
            try:
                started = _wait_healthy(gateway, limit_s, retry_on_taken_port=attempt + 1 < attempts)
            except BaseException:
                _stop(gateway.proc)
                raise
            if started:
                break
            _stop(gateway.proc)
        try:
            yield gateway
        finally:
            _stop(gateway.proc)


def _start(port: int, env: Mapping[str, str] | None, extra_args: Sequence[str], log_path: Path) -> GatewayProcess:
    command = [skyplex_command(), "serve", "--port", str(port), *extra_args]
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return GatewayProcess(url=f"http://127.0.0.1:{port}", port=port, proc=proc, log_path=log_path)


def _wait_healthy(gateway: GatewayProcess, limit_s: float, *, retry_on_taken_port: bool) -> bool:
    """True once /healthz answers 200; False if the port was taken meanwhile and a retry is allowed."""
    import httpx

    deadline = time.monotonic() + limit_s
    while True:
        try:
            if httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        code = gateway.proc.poll()
        if code is not None:
            text = gateway.log_text()
            if retry_on_taken_port and any(mark in text.lower() for mark in _PORT_TAKEN):
                return False
            raise AssertionError(f"`skyplex serve` exited with code {code} before it was healthy; its output ends:\n{text[-LOG_TAIL_CHARS:]}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"`skyplex serve` was not healthy after {limit_s:g} s; its output ends:\n{gateway.log_text()[-LOG_TAIL_CHARS:]}"
            )
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
