"""The kernel's own tables (jobs, kv, schema_version) and the column types they share with plugins.

Plugins define their own ``Table`` objects on their own ``MetaData`` and hand it to
``Store.create_tables``; prefixing table names with the plugin name keeps them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Connection


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type, so without this a value written aware comes back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; store timezone-aware (UTC) times")
        value = value.astimezone(timezone.utc)
        # SQLite compares the stored text, so keep one format: naive UTC
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


#: the kernel's tables; created (idempotently) when a Store opens
core_metadata = MetaData()

schema_version = Table(
    "schema_version",
    core_metadata,
    Column("component", String(100), primary_key=True, doc="'skyplex' for the kernel's tables"),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

kv = Table(
    "kv",
    core_metadata,
    Column("namespace", String(100), primary_key=True, doc="usually the plugin's name"),
    Column("key", String(255), primary_key=True),
    Column("value", JSON, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

jobs = Table(
    "jobs",
    core_metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("done", Integer, nullable=False, default=0),
    Column("total", Integer, nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("params", JSON, nullable=True),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # "hostname:pid:manager-uuid" of the JobManager that runs it, for crash recovery
    Column("owner", String(255), nullable=False),
    # set by cancel() from any process; the owner's worker turns it into the job's flag
    Column("cancel_requested", Boolean, nullable=False, default=False),
    # refreshed by the owner while the job is live; a stale one means the owner is gone
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_kind", "kind"),
    Index("ix_jobs_created_at", "created_at"),
)

#: the version of the kernel's tables this code writes; bump it with a migration below
CORE_COMPONENT = "skyplex"
CORE_SCHEMA_VERSION = 1

#: target version -> function that brings the previous version's tables up to it. Migrations only alter
#: existing tables: tables that are new in a version are created by ``create_all`` before migrating.
MIGRATIONS: dict[int, Callable[[Connection], Any]] = {}
