"""Forward chosen host loopback TCP ports into a sandbox whose network namespace is otherwise empty.

The sandbox cannot reach the host's loopback (it has its own). For each forwarded port the host listens
on a Unix socket that is bind-mounted into the sandbox, and a small relay inside the sandbox listens on
``127.0.0.1:<port>`` and pipes each connection to that socket. So sandboxed code talks to
``http://127.0.0.1:<port>`` as usual and can reach exactly those ports and nothing else.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: where the forwarding sockets appear inside the sandbox
INSIDE_DIR = "/run/skyplex-forward"

#: the relay run inside the sandbox by the system Python (-I -S: no site, no env); argv: ports..., "--", cmd...
RELAY_SOURCE = r"""
import os, socket, subprocess, sys, threading
sep = sys.argv.index("--")
ports, cmd = [int(p) for p in sys.argv[1:sep]], sys.argv[sep + 1:]
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port)); ls.listen(64); ready.release()
    while True:
        c, _ = ls.accept()
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            u.connect("%s/%d.sock" % (DIR, port))
        except OSError:
            c.close(); continue
        for x, y in ((c, u), (u, c)):
            threading.Thread(target=pipe, args=(x, y), daemon=True).start()
ready = threading.Semaphore(0)
for p in ports:
    threading.Thread(target=serve, args=(p,), daemon=True).start()
for p in ports:
    ready.acquire()
sys.exit(subprocess.call(cmd))
""".replace("DIR", repr(INSIDE_DIR))


class PortForwarder:
    """Host side: one Unix socket per port in ``directory``, each connection piped to 127.0.0.1:port."""

    def __init__(self, directory: Path, ports: tuple[int, ...], *, owner: tuple[int, int] | None = None) -> None:
        self.directory = directory
        self.ports = ports
        self._listeners: list[socket.socket] = []
        self._closed = threading.Event()
        for port in ports:
            path = directory / f"{port}.sock"
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(str(path))
            os.chmod(path, 0o600)
            if owner is not None:
                os.chown(path, *owner)
            ls.listen(64)
            self._listeners.append(ls)
            threading.Thread(target=self._accept, args=(ls, port), daemon=True, name=f"sandbox-fwd-{port}").start()

    def _accept(self, ls: socket.socket, port: int) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
                upstream.settimeout(None)
            except OSError as exc:
                log.info("sandbox forward to 127.0.0.1:%d refused: %s", port, exc)
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        """Stop accepting; connections in flight end when either side closes."""
        self._closed.set()
        for ls in self._listeners:
            try:
                ls.close()
            except OSError:
                pass


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
