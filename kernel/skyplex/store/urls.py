"""Database URLs: parse, normalise to the drivers skyplex ships with, and mask for logs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..errors import InvalidInputError

#: the setting people use to choose a database; named in every URL error
URL_SETTING = "SKYPLEX_DATABASE_URL"
EXPECTED_FORMS = "sqlite:///path/to/skyplex.db or postgresql://user:password@host:5432/dbname"

#: backends skyplex is tested against; each maps to the dialect name SQLAlchemy reports
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def parse_database_url(url: str | URL) -> URL:
    """Parse ``url`` into a SQLAlchemy URL, using psycopg 3 for PostgreSQL and expanding ``~`` in SQLite paths.

    Raises InvalidInputError naming SKYPLEX_DATABASE_URL and the expected forms when the URL cannot be
    parsed or names a database skyplex does not support.
    """
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str) or not url.strip():
            raise InvalidInputError(
                f"the database URL is empty; set {URL_SETTING} to {EXPECTED_FORMS} (or leave it unset for "
                "the default SQLite file in the data directory)",
                field=URL_SETTING,
            )
        try:
            parsed = make_url(url.strip())
        except (ArgumentError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot parse database URL {_mask_raw(url)!r} ({exc}); set {URL_SETTING} to {EXPECTED_FORMS}",
                field=URL_SETTING,
            ) from None

    backend = parsed.get_backend_name()
    if backend == "postgres":  # the scheme Heroku and friends hand out
        backend = "postgresql"
        parsed = parsed.set(drivername="postgresql")
    if backend not in SUPPORTED_BACKENDS:
        raise InvalidInputError(
            f"unsupported database {backend!r} in {mask_url(parsed)!r}; skyplex stores its data in SQLite or "
            f"PostgreSQL: set {URL_SETTING} to {EXPECTED_FORMS}",
            field=URL_SETTING,
        )
    if backend == "postgresql":
        # plain postgresql:// picks psycopg2 on SQLAlchemy 2.0, which skyplex does not install; name the
        # driver explicitly so every SQLAlchemy version agrees
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.host and not parsed.query.get("host"):
            raise InvalidInputError(
                f"database URL {mask_url(parsed)!r} names no host; set {URL_SETTING} to {EXPECTED_FORMS}",
                field=URL_SETTING,
            )
    elif backend == "sqlite" and parsed.database and not is_sqlite_memory(parsed):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    return parsed


def is_sqlite_memory(url: URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://`` or ``sqlite:///:memory:``)."""
    return url.get_backend_name() == "sqlite" and (
        not url.database or url.database == ":memory:" or url.database.startswith("file::memory:")
    )


def mask_url(url: URL) -> str:
    """The URL as a string with its password replaced by ``***``, safe for logs and error messages."""
    return url.render_as_string(hide_password=True)


def _mask_raw(text: str) -> str:
    """Best-effort masking of a URL that would not parse: hide what sits between ``user:`` and ``@``."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else text
