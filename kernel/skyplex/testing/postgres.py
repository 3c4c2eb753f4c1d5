"""A throwaway PostgreSQL server for tests, started from the distribution's binaries.

``start_postgres(base_dir)`` runs ``initdb`` and ``pg_ctl`` (Debian keeps them in
``/usr/lib/postgresql/<version>/bin``), listening only on 127.0.0.1 on a free port with trust auth and
fsync off, and returns a ``PostgresServer`` whose ``url`` the store accepts. When
``SKYPLEX_TEST_POSTGRES_URL`` is set, that server is used instead and nothing is started.
PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` OS user (created
when missing).
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ENV_URL = "SKYPLEX_TEST_POSTGRES_URL"
INSTALL_HINT = (
    "install PostgreSQL's server binaries (Debian/Ubuntu: apt-get install -y postgresql) "
    f"or point {ENV_URL} at a server you run"
)
#: the OS user that runs the cluster when the tests run as root
SERVICE_USER = "postgres"
START_TIMEOUT_S = 30


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be had here; ``reason`` says why (and is what a skipped test reports)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class PostgresServer:
    """A running PostgreSQL server for tests: connect with ``url``; ``stop()`` shuts it down and deletes it.

    ``external`` servers (from SKYPLEX_TEST_POSTGRES_URL) are left alone by ``stop()``.
    """

    url: str
    data_dir: Path | None = None
    port: int | None = None
    external: bool = False
    _bin_dir: Path | None = field(default=None, repr=False)
    _run_as: str | None = field(default=None, repr=False)
    _cleanup_dir: Path | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server (immediately: it holds nothing worth keeping) and remove its files."""
        if self.external or self.data_dir is None:
            return
        try:
            _run(
                [str(self._bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                self._run_as,
                timeout=START_TIMEOUT_S,
            )
        except PostgresUnavailable as exc:  # already stopped, or never fully started
            log.warning("stopping the test PostgreSQL server: %s", exc.reason)
        if self._cleanup_dir is not None:
            shutil.rmtree(self._cleanup_dir, ignore_errors=True)
        self.data_dir = None

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(base_dir: Path) -> PostgresServer:
    """Start a fresh PostgreSQL cluster under ``base_dir`` (or use SKYPLEX_TEST_POSTGRES_URL) and return it.

    Raises PostgresUnavailable(reason) when the binaries are missing or the server does not start.
    """
    env_url = os.environ.get(ENV_URL)
    if env_url:
        log.info("using the PostgreSQL server from %s", ENV_URL)
        return PostgresServer(url=env_url, external=True)

    bin_dir = find_postgres_bin_dir()
    run_as = _service_user() if os.geteuid() == 0 else None
    if run_as is None:
        cluster_root = Path(base_dir)
        cluster_root.mkdir(parents=True, exist_ok=True)
        cleanup = None
    else:
        # pytest's tmp dirs are private to root, so the postgres user could not reach one; use a fresh
        # dir right under the system tmp dir (short, too: unix socket paths are limited to ~100 bytes)
        cluster_root = Path(tempfile.mkdtemp(prefix="skyplex-pg-"))
        cleanup = cluster_root
        uid, gid = pwd.getpwnam(run_as).pw_uid, pwd.getpwnam(run_as).pw_gid
        os.chown(cluster_root, uid, gid)
    data_dir = cluster_root / "data"
    log_file = cluster_root / "postgres.log"

    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            run_as,
            timeout=120,
        )
        server = _start(bin_dir, data_dir, cluster_root, log_file, run_as)
    except BaseException:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise
    server._cleanup_dir = cleanup
    log.info("started a test PostgreSQL server at %s (data in %s)", server.url, data_dir)
    return server


def _start(bin_dir: Path, data_dir: Path, socket_dir: Path, log_file: Path, run_as: str | None) -> PostgresServer:
    last_error = ""
    for _attempt in range(3):  # the free port can be taken between finding it and binding it
        port = _free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={socket_dir}",
                # a throwaway cluster: durability only costs time
                "-c fsync=off",
                "-c synchronous_commit=off",
                # executors hold actions for review with PREPARE TRANSACTION (off by default in PostgreSQL)
                "-c max_prepared_transactions=16",
                "-c full_page_writes=off",
                "-c max_connections=100",
                "-c shared_buffers=32MB",
            ]
        )
        try:
            _run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data_dir),
                    "-l",
                    str(log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(START_TIMEOUT_S),
                    "start",
                ],
                run_as,
                timeout=START_TIMEOUT_S + 10,
            )
        except PostgresUnavailable as exc:
            last_error = f"{exc.reason}\n{_tail(log_file)}"
            continue
        return PostgresServer(
            url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
            data_dir=data_dir,
            port=port,
            _bin_dir=bin_dir,
            _run_as=run_as,
        )
    raise PostgresUnavailable(f"the test PostgreSQL server did not start: {last_error.strip()}")


def find_postgres_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: the newest Debian-packaged version, else the PATH."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda d: _version_key(d.parent.name),
        reverse=True,
    )
    for d in candidates:
        if (d / "pg_ctl").exists():
            return d
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl", path=str(Path(initdb).parent)):
        return Path(initdb).parent
    raise PostgresUnavailable(f"PostgreSQL's initdb and pg_ctl were not found; {INSTALL_HINT}")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)


def _service_user() -> str:
    """The non-root user that runs the cluster, created (as a system user) when missing."""
    try:
        pwd.getpwnam(SERVICE_USER)
        return SERVICE_USER
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if not useradd:
        raise PostgresUnavailable(
            f"tests run as root, PostgreSQL refuses to, and there is no {SERVICE_USER!r} user nor useradd "
            f"to create one; create a {SERVICE_USER!r} user or run the tests as a normal user"
        )
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise PostgresUnavailable(
            f"cannot create the {SERVICE_USER!r} OS user to run PostgreSQL: {proc.stderr.strip()}"
        )
    return SERVICE_USER


def _run(cmd: list[str], run_as: str | None, *, timeout: float) -> None:
    """Run ``cmd`` (as ``run_as`` when given), raising PostgresUnavailable with its output if it fails."""
    if run_as is not None:
        if shutil.which("runuser"):
            cmd = ["runuser", "-u", run_as, "--", *cmd]
        else:
            cmd = ["su", run_as, "-s", "/bin/sh", "-c", " ".join(shlex.quote(c) for c in cmd)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {exc}") from None
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise PostgresUnavailable(f"`{' '.join(cmd)}` exited with {proc.returncode}: {output}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server at ``server_url``, dropped afterwards; yields its URL.

    Gives each test its own tables on a session-wide server. When the server does not let us create
    databases (a shared one from SKYPLEX_TEST_POSTGRES_URL), it yields ``server_url`` itself.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from skyplex.store import parse_database_url

    base = parse_database_url(server_url)
    name = f"skyplex_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    created = False
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            created = True
        except DBAPIError as exc:
            log.warning("cannot create a database on %s (%s); using it as it is", base, exc.orig)
        yield base.set(database=name).render_as_string(hide_password=False) if created else server_url
    finally:
        if created:
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except DBAPIError as exc:  # leaving a test database behind is not worth failing a test for
                log.warning("cannot drop test database %s: %s", name, exc.orig)
        admin.dispose()
