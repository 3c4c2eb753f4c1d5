"""What a SQLite action can change besides rows, and how undo puts it back: schema objects (views,
indexes, triggers), data-carrying pragmas (user_version, application_id), the AUTOINCREMENT counters in
sqlite_sequence and the planner statistics in sqlite_stat1; and the foreign-key check undo runs before
it commits."""

from __future__ import annotations

import sqlite3
from typing import Any

from .sqlvalues import decode, encode

#: pragmas whose value is data the application relies on
DATA_PRAGMAS = ("user_version", "application_id")
#: internal tables whose rows an action can change (AUTOINCREMENT counters, ANALYZE statistics)
INTERNAL_TABLES = ("sqlite_sequence", "sqlite_stat1", "sqlite_stat4")
#: internal tables that may be dropped (sqlite_sequence may not: SQLite owns it)
_DROPPABLE = ("sqlite_stat1", "sqlite_stat4")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def capture_extras(conn: sqlite3.Connection) -> dict[str, Any]:
    """Pragmas and internal tables as they are now (inside the action's transaction, before it runs)."""
    out: dict[str, Any] = {"pragmas": {p: conn.execute(f"PRAGMA main.{p}").fetchone()[0] for p in DATA_PRAGMAS}}
    for table in INTERNAL_TABLES:
        exists = conn.execute("SELECT 1 FROM main.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
        out[table] = ([[encode(v) for v in r] for r in conn.execute(f"SELECT * FROM main.{table}")]
                      if exists else None)
    return out


def restore_extras(conn: sqlite3.Connection, extras: dict[str, Any]) -> None:
    """Put pragmas and internal tables back as :func:`capture_extras` saw them."""
    for pragma, value in (extras.get("pragmas") or {}).items():
        if pragma in DATA_PRAGMAS:
            conn.execute(f"PRAGMA main.{pragma} = {int(value)}")
    for table in INTERNAL_TABLES:
        if table not in extras:
            continue
        exists = conn.execute("SELECT 1 FROM main.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
        if not exists:
            continue
        if extras[table] is None and table in _DROPPABLE:
            conn.execute(f"DROP TABLE main.{table}")  # ANALYZE in the action made it
            continue
        conn.execute(f"DELETE FROM main.{table}")
        for row in extras[table] or []:
            conn.execute(f"INSERT INTO main.{table} VALUES({', '.join('?' * len(row))})", [decode(v) for v in row])


def drop_triggers(conn: sqlite3.Connection) -> None:
    """Drop every trigger of the main schema (inside undo's transaction): reversing rows must not fire the
    database's own triggers. :func:`restore_schema` recreates the ones that existed before the action."""
    for (name,) in conn.execute("SELECT name FROM main.sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER main.{_q(name)}")


def restore_schema(conn: sqlite3.Connection, schema_before: list[list[Any]]) -> None:
    """Recreate the views, indexes and triggers the database had before the action, exactly as they were
    written (a view whose SQL a rename rewrote is put back as it was); called after tables are back."""
    current = {(t, n): sql for t, n, _tbl, sql in conn.execute(
        "SELECT type, name, tbl_name, sql FROM main.sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    order = {"view": 0, "index": 1, "trigger": 2}  # triggers may name views (INSTEAD OF)
    for typ, name, _tbl, sql in sorted(schema_before, key=lambda s: order.get(s[0], 9)):
        if typ not in order or not sql:
            continue  # tables are handled by row reversal and copies; automatic indexes have no SQL
        if current.get((typ, name)) == sql:
            continue
        conn.execute(f"DROP {typ.upper()} IF EXISTS main.{_q(name)}")
        conn.execute(sql)


def fk_violations(conn: sqlite3.Connection) -> set[tuple[Any, ...]]:
    """The current foreign-key violations (works with enforcement off, as during undo)."""
    return {tuple(r) for r in conn.execute("PRAGMA main.foreign_key_check")}
