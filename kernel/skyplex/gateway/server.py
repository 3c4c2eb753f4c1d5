"""Running the gateway: the API key file and :func:`serve` (uvicorn)."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..kernel import Kernel

log = logging.getLogger(__name__)

KEY_FILE = "gateway.key"
KEY_PREFIX = "spx-"


def load_or_create_api_key(data_dir: str | os.PathLike) -> tuple[str, bool]:
    """The gateway's API key from ``<data_dir>/gateway.key``, creating it (mode 0600) on first start.

    Returns ``(key, created)``; ``created`` is True only when this call wrote the file, so the CLI
    knows to show the key once.
    """
    path = Path(data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        # O_EXCL: two servers starting at once must not overwrite each other's key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path), False
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    log.info("created gateway API key file %s", path)
    return key, True


def _read_key(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("gateway key file %s is readable by others (mode %o); run: chmod 600 %s", path, mode, path)
    key = path.read_text().strip()
    if not key:
        raise InvalidInputError(
            f"gateway key file {path} is empty; delete it to have a new key generated, or write a key into it",
            field="gateway.key",
        )
    return key


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve anywhere
        return False


def serve(
    kernel: Kernel,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    auth: bool = True,
    api_key: str | None = None,
    log_level: str = "info",
    max_body_bytes: int | None = None,
) -> None:
    """Run the gateway for ``kernel`` with uvicorn until interrupted.

    With ``auth`` and no ``api_key`` the key comes from :func:`load_or_create_api_key` in the kernel's
    data dir. ``auth=False`` is refused unless ``host`` is a loopback address.
    """
    if not auth and not is_loopback(host):
        raise InvalidInputError(
            f"--no-auth is only allowed when binding to a loopback address (127.0.0.1, ::1, localhost), "
            f"not {host!r}: anyone who can reach the port could use every plugin. Keep auth on, or bind "
            "to 127.0.0.1 and put an authenticating proxy in front.",
            field="--no-auth",
        )
    import uvicorn

    from .app import DEFAULT_MAX_BODY_BYTES, create_app

    if auth and api_key is None:
        api_key, _ = load_or_create_api_key(kernel.settings.data_dir)
    app = create_app(
        kernel, api_key=api_key if auth else None, auth=auth, max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES
    )
    log.info("skyplex gateway on http://%s:%d (auth %s)", host, port, "on" if auth else "off")
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level)).run()


@contextmanager
def background_server(app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a daemon thread; yields its base URL (``http://host:port``).

    ``port=0`` picks a free port. For tests, benchmarks and notebooks; production uses :func:`serve`.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # bound here, so the port is known before uvicorn starts and cannot be taken
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="skyplex-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the gateway did not start on {host}:{bound_port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}" if ":" not in host else f"http://[{host}]:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
