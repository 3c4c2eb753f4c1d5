"""SQLite actions: SQL run inside an explicit transaction, previewed, then committed with a changeset for undo.

run      BEGIN IMMEDIATE + SAVEPOINT, execute statement by statement with row-change capture, ROLLBACK;
         the preview lists per-statement results and the changed rows (DDL rolls back too: explicit BEGIN)
commit   execute again in a transaction, check the effect matches what was previewed, record the
         changeset (row pre-images from temp triggers; whole-table copies for tables DDL alters or drops)
         in the journal, then COMMIT
undo     apply the changeset backwards in one transaction; drop what the action created
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .handlers import ActionContext, ActionFailed, ActionHandler, Classification, ConflictError
from .sqlite_schema import capture_extras, drop_triggers, fk_violations, restore_extras, restore_schema
from .sqlite_policy import ActionAuthorizer, virtual_tables
from .sqlsplit import READ_ONLY_KEYWORDS, first_keyword, split_sqlite
from .sqlvalues import decode, encode

PREVIEW_ROWS = 50
#: statements (all of an action's, together) stop after this many seconds of SQLite work
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_MAX_ROW_CHANGES = 200_000


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteHandler(ActionHandler):
    """``{"database": "/abs/file.db", "sql": "statements; ..."}``."""

    kind = "sqlite"

    def __init__(self, time_limit_s: float = DEFAULT_TIME_LIMIT_S, max_row_changes: int = DEFAULT_MAX_ROW_CHANGES) -> None:
        #: an action's statements are interrupted after this many seconds (a runaway recursive query
        #: would otherwise hold the database's write lock for ever)
        self.time_limit_s = time_limit_s
        #: the most changed rows (and rows of a table DDL alters or drops) one action may have: each is
        #: kept in the journal for undo, so an unbounded count would exhaust the executor's memory
        self.max_row_changes = max_row_changes

    def validate(self, payload: dict[str, Any]) -> dict[str, Any]:
        db, sql = payload.get("database"), payload.get("sql")
        if not isinstance(db, str) or not os.path.isabs(db) or not Path(db).is_file():
            raise InvalidInputError(f"sqlite action needs 'database', the absolute path of an existing file; got {db!r}",
                                    field="payload.database")
        if not isinstance(sql, str):
            raise InvalidInputError("sqlite action needs 'sql', a string of statements", field="payload.sql")
        try:
            statements = split_sqlite(sql)
        except ValueError as exc:
            raise InvalidInputError(str(exc), field="payload.sql") from None
        if not statements:
            raise InvalidInputError("sqlite action 'sql' holds no statements", field="payload.sql")
        return {"database": str(Path(db).resolve()), "sql": sql}

    def classify(self, payload: dict[str, Any]) -> Classification:
        kws = {first_keyword(s) for s in split_sqlite(payload["sql"])}
        return "read-only" if kws <= READ_ONLY_KEYWORDS else "reversible"

    def resources(self, payload: dict[str, Any]) -> set[str]:
        return {f"sqlite:{payload['database']}"}

    # execution with capture ------------------------------------------------------------------------------
    def _connect(self, path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA foreign_keys=ON")
        # REPLACE (INSERT OR REPLACE, UPDATE OR REPLACE, ON CONFLICT REPLACE columns) deletes the rows it
        # replaces without firing DELETE triggers unless this is on; with it, our log sees them
        conn.execute("PRAGMA recursive_triggers=ON")
        return conn

    def _execute(self, conn: sqlite3.Connection, sql: str, skip_tables: set[str] | None) -> dict[str, Any]:
        """Run the statements inside the open transaction, logging row changes of every table except
        ``skip_tables`` (None: log nothing, only find which tables DDL touches); returns what happened."""
        schema_before = _schema(conn)
        # virtual tables (FTS, R*Tree) take no triggers, and logging triggers on their shadow tables crash
        # SQLite inside the module's own writes: writes to either are refused below, so neither is logged
        virtual = virtual_tables(schema_before)
        tables = [n for (t, n, _tbl, _sql) in schema_before if t == "table" and not n.startswith("sqlite_")
                  and n not in virtual]
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _goex_log(seq INTEGER PRIMARY KEY, tbl, op, rid, new_rid)")
        conn.execute("DELETE FROM temp._goex_log")
        columns: dict[str, list[str]] = {}
        ddl_touched: set[str] = set()
        keys: dict[str, list[str]] = {}
        for i, t in enumerate(tables):
            if skip_tables is None or t in skip_tables:
                continue
            cols = [r[1] for r in conn.execute(f"PRAGMA main.table_xinfo({_q(t)})") if r[6] == 0]
            columns[t] = cols
            shadow = f"_goex_v{i}"
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {shadow}(logseq {''.join(', ' + _q('c_' + c) for c in cols)})")
            conn.execute(f"DELETE FROM temp.{shadow}")
            old = ", ".join(f"OLD.{_q(c)}" for c in cols)
            tl = "'" + t.replace("'", "''") + "'"
            if _without_rowid(conn, t):  # keyed by its primary key instead of a rowid
                keys[t] = _install_keyed_triggers(conn, i, t, cols, shadow, old, tl)
                continue
            conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS _goex_i{i} AFTER INSERT ON main.{_q(t)} BEGIN "
                         f"INSERT INTO _goex_log(tbl, op, rid, new_rid) VALUES({tl}, 'I', NULL, NEW.rowid); END")
            conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS _goex_d{i} AFTER DELETE ON main.{_q(t)} BEGIN "
                         f"INSERT INTO _goex_log(tbl, op, rid, new_rid) VALUES({tl}, 'D', OLD.rowid, NULL); "
                         f"INSERT INTO {shadow} VALUES(last_insert_rowid(), {old}); END")
            conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS _goex_u{i} AFTER UPDATE ON main.{_q(t)} BEGIN "
                         f"INSERT INTO _goex_log(tbl, op, rid, new_rid) VALUES({tl}, 'U', OLD.rowid, NEW.rowid); "
                         f"INSERT INTO {shadow} VALUES(last_insert_rowid(), {old}); END")

        raise_reason: list[str] = []
        authorize = ActionAuthorizer(virtual, ddl_touched, raise_reason)
        results = []
        deadline = time.monotonic() + self.time_limit_s

        def over_time() -> int:
            if time.monotonic() < deadline:
                return 0
            raise_reason.append(f"the statements ran longer than {self.time_limit_s:g} s and were interrupted")
            return 1

        conn.set_authorizer(authorize)
        conn.set_progress_handler(over_time, 10000)
        try:
            for stmt in split_sqlite(sql):
                before = conn.total_changes
                try:
                    cur = conn.execute(stmt)
                    rows = cur.fetchmany(PREVIEW_ROWS) if cur.description else []
                except sqlite3.Error as exc:
                    why = raise_reason[-1] if raise_reason else str(exc)
                    raise ActionFailed(f"SQL failed: {why}; statement: {stmt[:300]}") from None
                # total_changes also counts rows our logging triggers (and the database's own) wrote;
                # changes() is the statement's own rows, as sqlite3_changes() defines them
                own = conn.execute("SELECT changes()").fetchone()[0] if conn.total_changes != before else 0
                results.append({"statement": stmt[:500], "changes": own,
                                "columns": [d[0] for d in cur.description or []],
                                "rows": [[encode(v) for v in r] for r in rows]})
        finally:
            conn.set_authorizer(None)
            conn.set_progress_handler(None, 0)
        logged = conn.execute("SELECT count(*) FROM temp._goex_log").fetchone()[0]
        if logged > self.max_row_changes:
            raise ActionFailed(f"the statements changed {logged} rows; goex keeps every changed row for undo and "
                               f"takes at most {self.max_row_changes} per action (split the work into smaller actions)")
        log = []
        shadows = {t: f"_goex_v{i}" for i, t in enumerate(tables) if t in columns}
        for seq, tbl, op, rid, new_rid in conn.execute("SELECT seq, tbl, op, rid, new_rid FROM temp._goex_log ORDER BY seq"):
            old = None
            if op in ("D", "U"):
                row = conn.execute(f"SELECT * FROM temp.{shadows[tbl]} WHERE logseq=?", (seq,)).fetchone()
                old = [encode(v) for v in row[1:]]
            entry = {"table": tbl, "op": op, "rowid": rid, "new_rowid": new_rid, "old": old}
            if tbl in keys and op in ("I", "U"):
                i = tables.index(tbl)
                row = conn.execute(f"SELECT * FROM temp._goex_k{i} WHERE logseq=?", (seq,)).fetchone()
                entry["new_key"] = [encode(v) for v in row[1:]]
            log.append(entry)
        for i in range(len(tables)):  # drop our triggers before COMMIT/ROLLBACK so none outlive the action
            for k in "idu":
                conn.execute(f"DROP TRIGGER IF EXISTS temp._goex_{k}{i}")
        schema_after = _schema(conn)
        created = sorted({(t, n) for (t, n, _tb, _s) in schema_after} - {(t, n) for (t, n, _tb, _s) in schema_before})
        # tables that existed before and whose definition changed or vanished need a whole-table copy
        after = set(schema_after)
        ddl_touched |= {n for (t, n, tb, sq) in schema_before if t == "table" and (t, n, tb, sq) not in after}
        existed = {n for (t, n, _tb, _s) in schema_before if t == "table"}
        ddl_touched &= existed
        touched = sorted({e["table"] for e in log} | ddl_touched | {n for t, n in created if t == "table"})
        return {"results": results, "log": log, "columns": columns, "keys": keys, "ddl_tables": sorted(ddl_touched),
                "created": [list(c) for c in created], "touched": touched,
                "schema_before": [list(s) for s in schema_before]}

    # lifecycle -------------------------------------------------------------------------------------------
    def run(self, ctx: ActionContext) -> dict[str, Any]:
        conn = self._connect(ctx.payload["database"])
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("SAVEPOINT goex_action")
            try:
                # first pass finds the tables DDL alters or drops (no triggers may sit on those),
                # second pass logs row changes of the others, exactly as commit will
                probe = self._execute(conn, ctx.payload["sql"], None)
                conn.execute("ROLLBACK TO goex_action")
                for t in probe["ddl_tables"]:  # copied whole before commit: as bounded as the row log
                    n = conn.execute(f"SELECT count(*) FROM main.{_q(t)}").fetchone()[0]
                    if n > self.max_row_changes:
                        raise ActionFailed(f"the statements alter or drop table {t} of {n} rows, which undo would "
                                           f"have to copy whole; goex copies at most {self.max_row_changes} rows")
                cap = self._execute(conn, ctx.payload["sql"], set(probe["ddl_tables"]))
                preview_rows = self._row_preview(conn, cap)
                post = _tables_digest(conn, cap["touched"])
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
        return {"statements": cap["results"], "rows": preview_rows, "ddl_tables": cap["ddl_tables"],
                "created": cap["created"], "fingerprint": _fingerprint(cap, post),
                "summary": {"row_changes": len(cap["log"]), "created": len(cap["created"]),
                            "ddl_tables": len(cap["ddl_tables"])}}

    def _row_preview(self, conn: sqlite3.Connection, cap: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for e in cap["log"][:PREVIEW_ROWS]:
            new = None
            if e["op"] in ("I", "U") and "new_key" in e:
                key = cap["keys"][e["table"]]
                row = conn.execute(f"SELECT * FROM main.{_q(e['table'])} WHERE {_key_match(key)}",
                                   [decode(v) for v in e["new_key"]]).fetchone()
            elif e["op"] in ("I", "U"):
                row = conn.execute(f"SELECT * FROM main.{_q(e['table'])} WHERE rowid=?", (e["new_rowid"],)).fetchone()
                new = [encode(v) for v in row] if row else None
            out.append({"table": e["table"], "op": {"I": "insert", "U": "update", "D": "delete"}[e["op"]],
                        "old": e["old"], "new": new})
        return out

    def prepare_commit(self, ctx: ActionContext) -> dict[str, Any]:
        # snapshots are taken inside apply's transaction, so they match what the statements change
        return {"database": ctx.payload["database"]}

    def apply(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any]:
        conn = self._connect(ctx.payload["database"])
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                ddl = set(ctx.preview.get("ddl_tables", []))
                saved = {t: _table_copy(conn, t) for t in ddl}
                extras = capture_extras(conn)
                conn.execute("SAVEPOINT goex_action")
                cap = self._execute(conn, ctx.payload["sql"], ddl)
                post = _tables_digest(conn, cap["touched"])
                if _fingerprint(cap, post) != ctx.preview["fingerprint"]:
                    raise ConflictError(f"the database {ctx.payload['database']} changed since action {ctx.id} ran, "
                                        "so committing would not do what the preview showed; run it again")
                undo_data.update({"log": cap["log"], "columns": cap["columns"], "keys": cap["keys"],
                                  "saved_tables": saved, "extras": extras,
                                  "created": cap["created"], "schema_before": cap["schema_before"],
                                  "touched": cap["touched"], "post_digest": post})
                ctx.record_undo_data(undo_data)  # durable before the data changes
                ctx.faults.reached("sqlite:commit")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return {"row_changes": len(cap["log"]), "statements": len(cap["results"])}

    def recover_commit(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any] | None:
        if "post_digest" not in undo_data:
            return None  # died before the changeset was saved, so before COMMIT: nothing was applied
        conn = self._connect(undo_data["database"])
        try:
            if _tables_digest(conn, undo_data["touched"]) == undo_data["post_digest"]:
                return {"recovered": "the transaction had committed before the crash"}
        finally:
            conn.close()
        return None

    def rollback(self, ctx: ActionContext, undo_data: dict[str, Any]) -> None:
        return None  # SQLite's COMMIT is atomic: a commit that did not finish left nothing behind

    def undo(self, ctx: ActionContext, undo_data: dict[str, Any], outcome: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        conn = self._connect(undo_data["database"])
        # restoring an exact earlier (consistent) state: foreign-key actions would fire mid-way, e.g.
        # dropping a table to recreate it cascades into its children; the pragma only works outside BEGIN
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = _tables_digest(conn, undo_data["touched"])
                if undo_data.get("undone_digest") == current:
                    # an undo whose COMMIT went through before a crash: repeating it would apply it twice
                    conn.execute("ROLLBACK")
                    return self._undo_result(undo_data)
                if not force and current != undo_data["post_digest"]:
                    raise ConflictError(f"tables changed by action {ctx.id} ({', '.join(undo_data['touched'])}) were "
                                        "changed again since; undo the later actions first or pass force=True")
                fk_before = fk_violations(conn)
                drop_triggers(conn)  # the database's own triggers must not fire while rows are put back
                self._reverse(conn, undo_data)
                restore_schema(conn, undo_data["schema_before"])
                restore_extras(conn, undo_data.get("extras") or {})
                broken = fk_violations(conn) - fk_before
                if broken:
                    tables = sorted({str(b[0]) for b in broken})
                    raise ConflictError(f"undoing action {ctx.id} would leave rows in {', '.join(tables)} referring to "
                                        f"rows that undo removes ({len(broken)} foreign-key violation(s)); another writer "
                                        "has referenced what the action added. Remove those references first")
                # durable before COMMIT, so recovery can tell a finished undo from one to repeat
                ctx.record_undo_data({**undo_data, "undone_digest": _tables_digest(conn, undo_data["touched"])})
                ctx.faults.reached("sqlite:undo-commit")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return self._undo_result(undo_data)

    @staticmethod
    def _undo_result(undo_data: dict[str, Any]) -> dict[str, Any]:
        return {"reversed_rows": len(undo_data["log"]), "dropped": len(undo_data["created"]),
                "restored_tables": sorted(undo_data["saved_tables"])}

    def _reverse(self, conn: sqlite3.Connection, u: dict[str, Any]) -> None:
        created_tables = {n for t, n in u["created"] if t == "table"}
        for e in reversed(u["log"]):
            t = e["table"]
            if t in created_tables or t in u["saved_tables"]:
                continue
            cols = u["columns"][t]
            key = (u.get("keys") or {}).get(t)
            if key is not None:  # WITHOUT ROWID: the row is found by its primary key
                if e["op"] == "I":
                    conn.execute(f"DELETE FROM main.{_q(t)} WHERE {_key_match(key)}", [decode(v) for v in e["new_key"]])
                elif e["op"] == "D":
                    conn.execute(f"INSERT INTO main.{_q(t)}({', '.join(_q(c) for c in cols)}) "
                                 f"VALUES({', '.join('?' * len(cols))})", [decode(v) for v in e["old"]])
                else:
                    sets = ", ".join(f"{_q(c)}=?" for c in cols)
                    conn.execute(f"UPDATE main.{_q(t)} SET {sets} WHERE {_key_match(key)}",
                                 [*(decode(v) for v in e["old"]), *(decode(v) for v in e["new_key"])])
                continue
            if e["op"] == "I":
                conn.execute(f"DELETE FROM main.{_q(t)} WHERE rowid=?", (e["new_rowid"],))
            else:
                vals = [decode(v) for v in e["old"]]
                if e["op"] == "D":
                    conn.execute(f"INSERT INTO main.{_q(t)}(rowid{''.join(', ' + _q(c) for c in cols)}) "
                                 f"VALUES(?{', ?' * len(cols)})", [e["rowid"], *vals])
                else:
                    sets = ", ".join(f"{_q(c)}=?" for c in cols)
                    conn.execute(f"UPDATE main.{_q(t)} SET {sets}, rowid=? WHERE rowid=?", [*vals, e["rowid"], e["new_rowid"]])
        order = {"trigger": 0, "view": 1, "index": 2, "table": 3}
        for typ, name in sorted(u["created"], key=lambda c: order.get(c[0], 9)):
            conn.execute(f"DROP {typ.upper()} IF EXISTS main.{_q(name)}")
        for t, copy in u["saved_tables"].items():
            conn.execute(f"DROP TABLE IF EXISTS main.{_q(t)}")
            conn.execute(copy["sql"])
            cols = copy["columns"]
            rid = [] if copy["without_rowid"] else ["rowid"]
            names = ", ".join([*rid, *(_q(c) for c in cols)])
            marks = ", ".join("?" * (len(cols) + len(rid)))
            conn.executemany(f"INSERT INTO main.{_q(t)}({names}) VALUES({marks})",
                             [[decode(v) for v in r] for r in copy["rows"]])
            for typ, name, tbl, sql in u["schema_before"]:
                if tbl == t and typ in ("index", "trigger") and sql:
                    conn.execute(f"DROP {typ.upper()} IF EXISTS main.{_q(name)}")
                    conn.execute(sql)


# helpers ----------------------------------------------------------------------------------------------
def _install_keyed_triggers(conn: sqlite3.Connection, i: int, t: str, cols: list[str], shadow: str, old: str,
                            tl: str) -> list[str]:
    """Logging triggers for a WITHOUT ROWID table: old rows as for rowid tables, plus the new primary
    key of inserted and updated rows (in ``_goex_k{i}``), so undo touches only the rows the action did."""
    info = conn.execute(f"PRAGMA main.table_info({_q(t)})").fetchall()
    key = [r[1] for r in sorted((r for r in info if r[5] > 0), key=lambda r: r[5])]
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS _goex_k{i}(logseq {''.join(', ' + _q('k_' + c) for c in key)})")
    conn.execute(f"DELETE FROM temp._goex_k{i}")
    new_key = ", ".join(f"NEW.{_q(c)}" for c in key)
    last = "(SELECT max(seq) FROM _goex_log)"
    conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS _goex_i{i} AFTER INSERT ON main.{_q(t)} BEGIN "
                 f"INSERT INTO _goex_log(tbl, op, rid, new_rid) VALUES({tl}, 'I', NULL, NULL); "
                 f"INSERT INTO _goex_k{i} VALUES({last}, {new_key}); END")
    conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS _goex_d{i} AFTER DELETE ON main.{_q(t)} BEGIN "
                 f"INSERT INTO _goex_log(tbl, op, rid, new_rid) VALUES({tl}, 'D', NULL, NULL); "
                 f"INSERT INTO {shadow} VALUES({last}, {old}); END")
    conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS _goex_u{i} AFTER UPDATE ON main.{_q(t)} BEGIN "
                 f"INSERT INTO _goex_log(tbl, op, rid, new_rid) VALUES({tl}, 'U', NULL, NULL); "
                 f"INSERT INTO {shadow} VALUES({last}, {old}); "
                 f"INSERT INTO _goex_k{i} VALUES({last}, {new_key}); END")
    return key


def _key_match(key: list[str]) -> str:
    """A WHERE clause matching a primary key exactly (``IS``: NULL-safe, no affinity surprises)."""
    return " AND ".join(f"{_q(c)} IS ?" for c in key)


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None]]:
    return [tuple(r) for r in conn.execute(
        "SELECT type, name, tbl_name, sql FROM main.sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")]


def _without_rowid(conn: sqlite3.Connection, table: str) -> bool:
    try:
        conn.execute(f"SELECT rowid FROM main.{_q(table)} LIMIT 0")
        return False
    except sqlite3.OperationalError:
        return True


def _table_copy(conn: sqlite3.Connection, table: str) -> dict[str, Any]:
    sql = conn.execute("SELECT sql FROM main.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
    if sql is None:
        return {"sql": None, "columns": [], "rows": [], "without_rowid": False}
    cols = [r[1] for r in conn.execute(f"PRAGMA main.table_xinfo({_q(table)})") if r[6] == 0]
    wr = _without_rowid(conn, table)
    sel = ", ".join([*([] if wr else ["rowid"]), *(_q(c) for c in cols)])
    rows = [[encode(v) for v in r] for r in conn.execute(f"SELECT {sel} FROM main.{_q(table)}")]
    return {"sql": sql[0], "columns": cols, "rows": rows, "without_rowid": wr}


def _tables_digest(conn: sqlite3.Connection, tables: list[str] | set[str]) -> str:
    """A hash of the named tables' definitions and rows (rowids included): equal digests, equal tables."""
    h = hashlib.sha256()
    for t in sorted(tables):
        copy = _table_copy(conn, t)
        h.update(repr((t, copy["sql"], sorted(map(repr, copy["rows"])))).encode())
    return h.hexdigest()


def _fingerprint(cap: dict[str, Any], post: str) -> str:
    body = repr(([(r["statement"], r["changes"]) for r in cap["results"]], cap["log"], cap["created"], post))
    return hashlib.sha256(body.encode()).hexdigest()
