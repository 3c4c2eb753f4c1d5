"""Persistence: one SQLAlchemy 2 Core database for the kernel and its plugins.

``Store(url)`` opens SQLite (the default, a file under the data directory) or PostgreSQL, creates the
kernel's tables (``jobs``, ``kv``, ``schema_version``) and lets plugins create their own with
``create_tables(metadata)``.
"""

from __future__ import annotations

from .errors import SchemaVersionError, StoreUnavailableError
from .schema import UTCDateTime, core_metadata, jobs, kv, schema_version, utcnow
from .store import Store
from .urls import parse_database_url

__all__ = [
    "SchemaVersionError",
    "Store",
    "StoreUnavailableError",
    "UTCDateTime",
    "core_metadata",
    "jobs",
    "kv",
    "parse_database_url",
    "schema_version",
    "utcnow",
]
