"""Errors the store raises when the database itself is the problem (not the caller's input)."""

from __future__ import annotations

from ..errors import SkyplexError


class StoreUnavailableError(SkyplexError):
    """The database cannot be reached or opened (server down, wrong host, no permission, no driver)."""

    status_code = 503
    error_type = "store_unavailable"


class SchemaVersionError(SkyplexError):
    """The database was written by a newer skyplex than this one understands."""

    status_code = 500
    error_type = "schema_version_error"
