"""What SQL an action may run against SQLite: an authorizer that keeps the change capture seeing everything
undo needs. It refuses transaction control and ATTACH (the executor owns the transaction), setting any
pragma but the data-carrying ones undo restores, any access to the capture's own ``_goex_`` objects,
writes to virtual tables and their shadow tables (their writes cannot be recorded), and functions that
reach into the executor's process; and it notes the tables DDL alters or drops."""

from __future__ import annotations

import re
import sqlite3

# sqlite3 authorizer action codes (sqlite3.h)
_DENY = {
    sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_TRANSACTION: "BEGIN/COMMIT/ROLLBACK", sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT/RELEASE",
}
_DDL_TOUCH = {sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_DROP_TEMP_TABLE}
#: pragmas an action may set: their values are captured before it runs and put back by undo
_SETTABLE_PRAGMAS = {"user_version", "application_id"}
#: pragmas an action may only read. Every other pragma is refused: the capture depends on how the
#: connection behaves (recursive_triggers=OFF hides the rows REPLACE deletes, writable_schema edits
#: the schema behind SQLite's back, optimize writes statistics, journal_mode and page_size change the file)
_QUERY_PRAGMAS = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check", "database_list", "collation_list", "function_list",
    "module_list", "pragma_list", "compile_options", "page_count", "page_size", "freelist_count",
    "schema_version", "data_version", "encoding", "journal_mode", "foreign_keys", "recursive_triggers",
    "auto_vacuum", "max_page_count",
}
#: pragmas that take a table or index name (or a row limit) as their argument and still only read
_QUERY_WITH_ARGUMENT = {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                        "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check"}
#: the prefix of the temp tables and triggers that record an action's row changes
CAPTURE_PREFIX = "_goex_"
_ROW_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_VTAB_ACTIONS = {sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE}
#: SQL functions an action may not call: fts3_tokenizer turns a blob into a function pointer the
#: executor's own process then calls (a crash, or code execution, as whoever runs skyplex)
_DENIED_FUNCTIONS = {"fts3_tokenizer", "load_extension"}


class ActionAuthorizer:
    """The ``sqlite3`` authorizer for an action's statements. ``virtual``: the virtual tables and their
    shadow tables; ``ddl_touched`` collects the tables DDL alters or drops; each refusal appends its
    reason to ``reasons`` (SQLite only reports "not authorized")."""

    def __init__(self, virtual: set[str], ddl_touched: set[str], reasons: list[str]) -> None:
        self.virtual, self.ddl_touched, self.reasons = virtual, ddl_touched, reasons

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        why = self._refusal(action, arg1, arg2, trigger)
        if why:
            self.reasons.append(why)
            return sqlite3.SQLITE_DENY
        if action in _DDL_TOUCH and arg1:
            self.ddl_touched.add(arg1 if action != sqlite3.SQLITE_ALTER_TABLE else arg2)
        return sqlite3.SQLITE_OK

    def _refusal(self, action: int, arg1: str | None, arg2: str | None, trigger: str | None) -> str | None:
        if _is_capture(arg1) or _is_capture(arg2):
            # the log, shadow tables and triggers that record the action's effect are the executor's:
            # only its own triggers may touch them, and no object of the action may take their names
            if not (_is_capture(trigger) and action in (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_READ,
                                                         sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION)):
                return ("names starting with _goex_ belong to the executor's change capture; an action may not "
                        "read, change, create or drop them")
        if action in _DENY:
            return f"{_DENY[action]} is not allowed in an action (the executor owns the transaction)"
        if action == sqlite3.SQLITE_PRAGMA:
            return _pragma_refusal(arg1 or "", arg2)
        if action in _VTAB_ACTIONS or (action in _ROW_WRITES and arg1 in self.virtual) \
                or (action == sqlite3.SQLITE_ALTER_TABLE and arg2 in self.virtual):
            return ("virtual tables (full-text indexes, R*Trees) cannot be created, changed or dropped by an "
                    f"action{f' ({arg1 or arg2})' if (arg1 or arg2) else ''}: goex cannot record their writes for undo")
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            return f"the SQL function {arg2}() is not allowed in an action"
        return None


def _is_virtual(sql: str | None) -> bool:
    return bool(sql) and re.match(r"\s*CREATE\s+VIRTUAL\s+TABLE\b", sql, re.IGNORECASE) is not None


def _is_capture(name: str | None) -> bool:
    return bool(name) and name.lower().startswith(CAPTURE_PREFIX)


def virtual_tables(schema: list[tuple[str, str, str, str | None]]) -> set[str]:
    """The virtual tables and their shadow tables (named ``<virtual table>_<suffix>``)."""
    virtual = {n for (t, n, _tbl, sql) in schema if t == "table" and _is_virtual(sql)}
    return virtual | {n for (t, n, _tbl, _sql) in schema if t == "table" and any(n.startswith(v + "_") for v in virtual)}


def _pragma_refusal(name: str, argument: str | None) -> str | None:
    """Why ``PRAGMA name[=argument]`` may not run in an action, or None when it may."""
    name = name.lower()
    if name in _SETTABLE_PRAGMAS:
        return None
    if name in _QUERY_PRAGMAS and (argument is None or name in _QUERY_WITH_ARGUMENT):
        return None
    if name in _QUERY_PRAGMAS:
        return (f"PRAGMA {name} may be read but not set in an action (it changes the database file or how "
                "the executor records the action's effect)")
    return (f"PRAGMA {name} is not allowed in an action; allowed: reading {', '.join(sorted(_QUERY_PRAGMAS))}, "
            f"and setting {', '.join(sorted(_SETTABLE_PRAGMAS))}")
