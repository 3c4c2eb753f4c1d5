"""Shared fixtures for the GoEX tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import sqlite3
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from skyplex.sandbox import available

SANDBOX_OK, SANDBOX_REASON = available()


@pytest.fixture
def needs_sandbox():
    if not SANDBOX_OK:
        pytest.skip(f"sandbox unavailable here: {SANDBOX_REASON}")


@pytest.fixture
def goex_executor(tmp_path):
    from skyplex_goex.executor import GoexExecutor

    stage = tempfile.mkdtemp(prefix="goex-test-stage-")  # under /tmp: the sandbox user must reach it
    ex = GoexExecutor(data_dir=tmp_path / "data", stage_dir=stage)
    yield ex
    ex.close()
    shutil.rmtree(stage, ignore_errors=True)


@pytest.fixture
def executor(goex_executor):
    return goex_executor


def tree_state(root: Path) -> dict:
    """Everything undo must restore: types, modes, contents, link targets, mtimes of files."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("f", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out


@pytest.fixture
def snapshot_tree():
    return tree_state


@pytest.fixture
def project(tmp_path) -> Path:
    """A small project folder with an ignored file, a nested folder, modes and a symlink."""
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "README.md").write_text("# demo\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("ignored but precious\n")
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    os.chmod(root / "src" / "pkg" / "mod.py", 0o640)
    os.symlink("README.md", root / "readme-link")
    return root


def sqlite_state(path: Path) -> tuple:
    conn = sqlite3.connect(path)
    try:
        schema = list(conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"))
        data = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            data[name] = sorted(map(repr, conn.execute(f'SELECT rowid, * FROM "{name}"')))
        return schema, data
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, img BLOB);
        CREATE INDEX items_name ON items(name);
        CREATE TABLE tags(item INTEGER REFERENCES items(id) ON DELETE CASCADE, tag TEXT);
        INSERT INTO items(name, price, img) VALUES ('pen; blue', 1.1, x'00ff10'), ('cup', 0.30000000000000004, NULL),
                                                   ('lamp', 1e308, x'');
        INSERT INTO tags VALUES (1, 'office'), (2, 'kitchen');
    """)
    conn.close()
    return path


@pytest.fixture
def db_state():
    return sqlite_state


class TodoService:
    """A real REST service on loopback: items in memory, bearer-token auth, idempotency keys honoured."""

    def __init__(self, token: str) -> None:
        self.items: dict[int, dict] = {}
        self.next_id = 1
        self.seen_keys: dict[str, tuple[int, dict, dict]] = {}
        self.auth_headers: list[str] = []
        self.calls: list[str] = []
        svc = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, code, body=None, headers=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                svc.auth_headers.append(self.headers.get("Authorization", ""))
                svc.calls.append(f"{self.command} {self.path}")
                if self.headers.get("Authorization") != f"Bearer {token}":
                    return self._reply(401, {"error": "bad token"})
                key = self.headers.get("Idempotency-Key")
                if key and key in svc.seen_keys:
                    return self._reply(*svc.seen_keys[key])
                res = svc.dispatch(self.command, self.path, body)
                if key and self.command != "GET":
                    svc.seen_keys[key] = res
                self._reply(*res)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def dispatch(self, method, path, body):
        parts = path.strip("/").split("/")
        if parts[0] != "items":
            return 404, {"error": "no such route"}, {}
        if len(parts) == 1:
            if method == "POST":
                item = {"id": self.next_id, **(body or {})}
                self.items[self.next_id] = item
                self.next_id += 1
                return 201, item, {"Location": f"/items/{item['id']}"}
            if method == "GET":
                return 200, sorted(self.items.values(), key=lambda i: i["id"]), {}
        else:
            i = int(parts[1])
            if method == "GET":
                return (200, self.items[i], {}) if i in self.items else (404, {"error": "not found"}, {})
            if method in ("PUT", "PATCH"):
                self.items[i] = {**(self.items.get(i, {}) if method == "PATCH" else {}), **(body or {}), "id": i}
                return 200, self.items[i], {}
            if method == "DELETE":
                return (204, None, {}) if self.items.pop(i, None) else (404, {"error": "not found"}, {})
        return 405, {"error": "method not allowed"}, {}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def todo_service():
    svc = TodoService(token="tok-ABC-123-secret")
    yield svc
    svc.close()


@pytest.fixture
def rest_executor(executor, todo_service):
    executor.vault.set("todo_token", "tok-ABC-123-secret")
    executor.add_service("todo", {
        "base_url": todo_service.url,
        "secrets": ["todo_token"],
        "headers": {"Authorization": "Bearer {{secret:todo_token}}"},
        "allow": [
            {"method": "GET", "path": "/items*"},
            {"method": "POST", "path": "/items"},
            {"method": "PUT", "path": "/items/*"},
            {"method": "PATCH", "path": "/items/*"},
            {"method": "DELETE", "path": "/items/*", "restore": "put"},
        ],
    })
    return executor


@pytest.fixture
def goex_kernel(tmp_path):
    """``goex_kernel(model)``: a started kernel with only this plugin and ``model`` as the backend
    ``scripted``; every kernel made is closed after the test."""
    from skyplex import Kernel, Settings, make_plugin_manager

    kernels = []

    def make(model):
        kernel = Kernel(settings=Settings(data_dir=tmp_path / "kdata"),
                        pm=make_plugin_manager(builtins=False, entrypoints=True, allowlist={"goex"})).startup()
        kernel.models.register("scripted", lambda: model, plugin="test")
        kernels.append(kernel)
        return kernel

    yield make
    for kernel in kernels:
        kernel.close()


@pytest.fixture
def action_model():
    """``action_model(answer)``: a test model backend answering every prompt with ``answer`` as JSON,
    wrapped in chatter (the flow must find the action inside it)."""
    from skyplex.testing import ScriptedModelBackend

    return lambda answer: ScriptedModelBackend(["Sure! " + json.dumps(answer) + " done."], repeat=True)


@pytest.fixture(scope="module")
def pg_url(postgres_url):
    """A fresh database on the session's server (which allows prepared transactions), as a libpq URL."""
    psycopg = pytest.importorskip("psycopg")
    from skyplex.testing.postgres import temporary_database

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        if int(conn.execute("SHOW max_prepared_transactions").fetchone()[0]) == 0:
            pytest.skip("the PostgreSQL server has max_prepared_transactions = 0; PREPARE TRANSACTION needs it > 0")
    with temporary_database(postgres_url) as url:
        yield url.replace("postgresql+psycopg://", "postgresql://")  # a libpq URL, as users pass it
