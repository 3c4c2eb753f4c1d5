"""Store: one database for the kernel and its plugins (SQLite file by default, PostgreSQL by URL)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, delete, event, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from ..errors import InvalidInputError
from .errors import SchemaVersionError, StoreUnavailableError
from .jsonvalue import to_json_value
from .schema import (
    CORE_COMPONENT,
    CORE_SCHEMA_VERSION,
    MIGRATIONS,
    core_metadata,
    kv,
    schema_version,
    utcnow,
)
from .urls import URL_SETTING, is_sqlite_memory, mask_url, parse_database_url

log = logging.getLogger(__name__)

#: how long a SQLite writer waits for another writer's lock before giving up
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: how long opening a PostgreSQL connection may take before we call the server unreachable
PG_CONNECT_TIMEOUT_S = 5
#: any fixed number: serialises table creation across processes sharing one PostgreSQL database
_PG_DDL_LOCK_KEY = 0x5C7_0001


class Store:
    """The database, opened from a URL, with the kernel's tables created and at the current schema version.

    ``Store("sqlite:///path/skyplex.db")`` creates the file (and its folder) and uses WAL journaling so
    readers never block the writer; ``Store("postgresql://user:pw@host/db")`` uses psycopg 3.
    ``sqlite://`` (in memory) keeps one shared connection and suits single-threaded tests only.
    """

    def __init__(self, url: str | URL) -> None:
        self._url = parse_database_url(url)
        self.dialect: str = self._url.get_backend_name()
        if self.dialect == "sqlite":
            self._engine = self._sqlite_engine()
        else:
            self._engine = self._postgres_engine()
        log.info("store: %s", self.url)
        try:
            self._open()
        except BaseException:
            self._engine.dispose()
            raise

    # engines ------------------------------------------------------------------------------------
    def _sqlite_engine(self) -> Engine:
        memory = is_sqlite_memory(self._url)
        if not memory:
            path = Path(self._url.database)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"cannot create the folder {path.parent} for the SQLite database: {exc.strerror}; "
                    f"choose a writable data directory (SKYPLEX_DATA_DIR) or set {URL_SETTING}",
                    field=URL_SETTING,
                ) from None
        engine = create_engine(
            self._url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **({"poolclass": StaticPool} if memory else {}),
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            # let SQLAlchemy's "begin" event below emit BEGIN, so transactions (and DDL) are real
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            try:
                if not memory:
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, far fewer fsyncs
                cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cur.execute("PRAGMA foreign_keys=ON")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
            # can fail at once with SQLITE_BUSY when another writer got in between (busy_timeout cannot help)
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def _postgres_engine(self) -> Engine:
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in self._url.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        if "application_name" not in self._url.query:
            connect_args["application_name"] = "skyplex"
        try:
            return create_engine(self._url, pool_pre_ping=True, connect_args=connect_args)
        except ModuleNotFoundError as exc:
            raise StoreUnavailableError(
                f"the PostgreSQL driver for {self.url!r} is not installed ({exc.name}); "
                "install it with `pip install 'skyplex[postgres]'` (psycopg 3)",
                field=URL_SETTING,
            ) from None

    # opening --------------------------------------------------------------------------------------
    def _open(self) -> None:
        """Create the kernel's tables and bring them to the current schema version."""
        try:
            with self.begin() as conn:
                self._lock_ddl(conn)
                core_metadata.create_all(conn, checkfirst=True)
                self._migrate(conn)
        except OperationalError as exc:
            raise self._unavailable(exc) from None
        except DBAPIError as exc:
            if self.dialect == "postgresql" and exc.connection_invalidated:
                raise self._unavailable(exc) from None
            raise

    def _lock_ddl(self, conn: Connection) -> None:
        # concurrent CREATE TABLE IF NOT EXISTS on PostgreSQL can still collide on the type catalogue;
        # SQLite is already serialised by BEGIN IMMEDIATE
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_DDL_LOCK_KEY})

    def _migrate(self, conn: Connection) -> None:
        row = conn.execute(select(schema_version.c.version).where(schema_version.c.component == CORE_COMPONENT)).first()
        if row is None:  # a new database: create_all just made the current schema
            conn.execute(schema_version.insert().values(component=CORE_COMPONENT, version=CORE_SCHEMA_VERSION))
            return
        current = row.version
        if current > CORE_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database {self.url!r} was written by a newer skyplex (schema version {current}; this "
                f"skyplex understands up to {CORE_SCHEMA_VERSION}); upgrade skyplex, or set {URL_SETTING} "
                "to another database",
                field=URL_SETTING,
            )
        for target in range(current + 1, CORE_SCHEMA_VERSION + 1):
            log.info("migrating the store's tables from schema version %d to %d", target - 1, target)
            MIGRATIONS[target](conn)
        if current != CORE_SCHEMA_VERSION:
            conn.execute(
                schema_version.update()
                .where(schema_version.c.component == CORE_COMPONENT)
                .values(version=CORE_SCHEMA_VERSION, updated_at=utcnow())
            )

    def _unavailable(self, exc: DBAPIError) -> StoreUnavailableError:
        reason = " ".join(str(exc.orig or exc).split())  # the driver's words, on one line
        if self.dialect == "sqlite":
            return StoreUnavailableError(
                f"cannot open the SQLite database {self._url.database}: {reason}; check that the file and its "
                f"folder are readable and writable, or set {URL_SETTING} to another database",
                field=URL_SETTING,
            )
        u = self._url
        host = u.host or u.query.get("host") or "localhost"
        return StoreUnavailableError(
            f"cannot connect to PostgreSQL at {host}:{u.port or 5432} (database {u.database!r}, user "
            f"{u.username!r}). The driver said: {_sentence(reason)} Check that the server is running and "
            "accepts TCP connections on that host and port (listen_addresses, pg_hba.conf, firewalls), that the "
            f"database and user exist and the password is right, and that {URL_SETTING} ({self.url}) says what "
            "you meant.",
            field=URL_SETTING,
        )

    # connections ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL with its password masked (``***``), safe to log and show."""
        return mask_url(self._url)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for queries the helpers here do not cover."""
        return self._engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside a write transaction: committed when the block ends, rolled back if it raises.

        On SQLite it begins IMMEDIATE, taking the write lock at the start so a read-then-write cannot fail
        halfway when another writer is busy; concurrent writers wait (busy_timeout) instead of erroring.
        """
        with self._engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (and short autocommitted work); it never takes SQLite's write lock up front."""
        with self._engine.connect() as conn:
            yield conn

    def create_tables(self, metadata: MetaData) -> None:
        """Create every table of ``metadata`` that does not exist yet (safe to call on every start)."""
        with self.begin() as conn:
            self._lock_ddl(conn)
            metadata.create_all(conn, checkfirst=True)

    def schema_version(self, component: str = CORE_COMPONENT) -> int | None:
        """The schema version recorded for ``component`` (``"skyplex"`` for the kernel's tables), or None."""
        with self.connect() as conn:
            return conn.execute(
                select(schema_version.c.version).where(schema_version.c.component == component)
            ).scalar_one_or_none()

    # key-value state for plugins ------------------------------------------------------------------------
    def kv_get(self, namespace: str, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``namespace``/``key``, or ``default`` when there is none."""
        with self.connect() as conn:
            row = conn.execute(select(kv.c.value).where(kv.c.namespace == namespace, kv.c.key == key)).first()
        return default if row is None else row.value

    def kv_put(self, namespace: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON data or a pydantic model) under ``namespace``/``key``, replacing what was there."""
        _check_kv_names(namespace, key)
        data = to_json_value(value, what=f"kv value {namespace}/{key}", field="value")
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        now = utcnow()
        stmt = insert(kv).values(namespace=namespace, key=key, value=data, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[kv.c.namespace, kv.c.key], set_={"value": stmt.excluded.value, "updated_at": now}
        )
        with self.begin() as conn:
            conn.execute(stmt)

    def kv_delete(self, namespace: str, key: str) -> bool:
        """Remove ``namespace``/``key``; True if it existed."""
        with self.begin() as conn:
            result = conn.execute(delete(kv).where(kv.c.namespace == namespace, kv.c.key == key))
        return result.rowcount > 0

    def kv_list(self, namespace: str) -> dict[str, Any]:
        """Every key of ``namespace`` with its value, sorted by key."""
        with self.connect() as conn:
            rows = conn.execute(select(kv.c.key, kv.c.value).where(kv.c.namespace == namespace).order_by(kv.c.key))
            return {row.key: row.value for row in rows}

    # lifecycle ------------------------------------------------------------------------------------
    def dispose(self) -> None:
        """Close every pooled connection. The store can still be used afterwards (it reconnects)."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def _sentence(text: str) -> str:
    """``text`` ending in exactly one sentence mark, so it can be followed by more sentences."""
    text = text.strip().rstrip(".")
    return text if text.endswith(("?", "!")) else text + "."


def _check_kv_names(namespace: str, key: str) -> None:
    for what, value, limit in (("namespace", namespace, 100), ("key", key, 255)):
        if not isinstance(value, str) or not value or len(value) > limit:
            raise InvalidInputError(
                f"kv {what} must be a non-empty string of at most {limit} characters, got {value!r}", field=what
            )
