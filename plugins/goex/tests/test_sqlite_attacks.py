"""Hostile SQL against the SQLite actions: statements that change how the change capture behaves
(pragmas, the capture's own temp tables and triggers), functions that reach into the executor's
process, virtual tables, runaway queries. Each must be refused before commit (nothing changed, the
action ends failed, never "running") or be undone exactly."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ActionFailed

BASE = """
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE);
CREATE TABLE seq(id INTEGER PRIMARY KEY AUTOINCREMENT, x);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
INSERT INTO seq(x) VALUES (1);
"""


def make_db(path: Path, script: str = BASE) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return path


def state(path: Path) -> dict:
    """The database as a reader sees it: the dump (schema and rows, internal tables included) and the
    pragmas stored in the file."""
    conn = sqlite3.connect(path)
    try:
        out = {"dump": list(conn.iterdump())}
        for name in ("user_version", "application_id", "journal_mode", "page_size", "auto_vacuum", "encoding"):
            out[name] = conn.execute(f"PRAGMA {name}").fetchone()[0]
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_%' AND type='table'"):
            out[name] = sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def sql_action(db: Path, sql: str) -> Action:
    return Action(kind="sqlite", payload={"database": str(db), "sql": sql})


def refused_or_undone_exactly(executor, db: Path, sql: str) -> str:
    """Run ``sql`` as an action: either the run refuses it (nothing changes, the action is failed) or
    commit changes the database and undo puts back exactly what was there. Returns which."""
    before = state(db)
    rec = executor.propose(sql_action(db, sql))
    try:
        executor.run(rec.id)
    except ActionFailed:
        assert executor.get(rec.id).status == "failed"
        assert state(db) == before
        return "refused"
    executor.commit(rec.id)
    executor.undo(rec.id)
    assert state(db) == before, sql
    return "undone"


@pytest.mark.parametrize("sql", [
    # REPLACE deletes rows without firing DELETE triggers unless recursive_triggers is on: the
    # capture would miss the replaced row and undo would lose it
    "PRAGMA recursive_triggers = OFF; INSERT OR REPLACE INTO t VALUES (1, 'new')",
    # the schema edited behind SQLite's back: undo could never match the table again
    "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'CREATE TABLE t(id INTEGER PRIMARY KEY, v, w)' "
    "WHERE name = 't'",
    "PRAGMA journal_mode = OFF; INSERT INTO t VALUES (3, 'c')",
    "PRAGMA page_size = 8192; INSERT INTO t VALUES (3, 'c')",
    "PRAGMA optimize",
    "PRAGMA foreign_keys = OFF; INSERT INTO t VALUES (3, 'c')",
    "PRAGMA legacy_alter_table = ON; ALTER TABLE t RENAME TO t2",
    # the capture's own tables and triggers, directly or through a trigger of the action
    "INSERT INTO t VALUES (100, 'x'); DELETE FROM _goex_log",
    "CREATE TEMP TRIGGER hide AFTER INSERT ON t BEGIN DELETE FROM _goex_log; END; INSERT INTO t VALUES (100, 'x')",
    "CREATE TEMP TRIGGER _goex_mine AFTER INSERT ON t BEGIN SELECT 1; END",
    "CREATE TABLE _goex_log2(a)",
    "SELECT * FROM _goex_log",
])
def test_statements_that_would_blind_the_capture_are_refused(executor, tmp_path, sql):
    assert refused_or_undone_exactly(executor, make_db(tmp_path / "a.db"), sql) == "refused"


PRAGMA_VALUES = st.sampled_from([None, "0", "1", "OFF", "ON", "'x'", "100", "-1", "WAL", "DELETE", "FULL"])


def _pragma_names() -> list[str]:
    conn = sqlite3.connect(":memory:")
    try:
        return sorted(r[0] for r in conn.execute("PRAGMA pragma_list"))
    finally:
        conn.close()


@settings(max_examples=60, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(_pragma_names()), value=PRAGMA_VALUES,
       then=st.sampled_from(["INSERT OR REPLACE INTO t VALUES (1, 'new')", "INSERT INTO seq(x) VALUES (2)",
                             "UPDATE OR REPLACE t SET v = 'a' WHERE id = 2", "DELETE FROM t"]))
def test_any_pragma_before_any_change_is_refused_or_undone_exactly(executor, tmp_path, name, value, then):
    db = make_db(tmp_path / f"{uuid.uuid4().hex}.db")
    pragma = f"PRAGMA {name}" if value is None else f"PRAGMA {name} = {value}"
    refused_or_undone_exactly(executor, db, f"{pragma}; {then}")


def test_settable_pragmas_still_undo_exactly(executor, tmp_path):
    db = make_db(tmp_path / "a.db")
    assert refused_or_undone_exactly(executor, db, "PRAGMA user_version = 7; PRAGMA application_id = 9; "
                                                   "PRAGMA table_info(t); PRAGMA integrity_check") == "undone"


def test_analyze_on_a_database_without_statistics_is_undone_exactly(executor, tmp_path):
    db = make_db(tmp_path / "a.db", BASE + "CREATE INDEX tv ON t(v);")
    assert refused_or_undone_exactly(executor, db, "INSERT INTO t VALUES (3, 'c'); ANALYZE") == "undone"
    assert "sqlite_stat1" not in state(db)


def _in_child(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` with a fresh executor in a child process, so that a crash of SQLite in the executor's
    process shows up as a failed test rather than the end of the test run."""
    stage = tempfile.mkdtemp(prefix="goex-attack-stage-")  # made and removed here: the child may crash
    prelude = textwrap.dedent(f"""
        import sqlite3
        from pathlib import Path
        from skyplex.interfaces.executor import Action
        from skyplex_goex.executor import GoexExecutor
        from skyplex_goex.handlers import ActionFailed
        tmp = Path({str(tmp_path)!r})
        ex = GoexExecutor(data_dir=tmp / "data", stage_dir={stage!r})
        def act(db, sql):
            return Action(kind="sqlite", payload={{"database": str(db), "sql": sql}})
    """)
    try:
        return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=300)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def test_fts3_tokenizer_cannot_hand_sqlite_a_function_pointer(tmp_path):
    # fts3_tokenizer(name, blob) makes SQLite call the blob as a function pointer in goex's own process
    res = _in_child("""
        db = tmp / "a.db"
        sqlite3.connect(db).executescript("CREATE TABLE t(a)")
        for sql in ("SELECT hex(fts3_tokenizer('simple'))",
                    "SELECT fts3_tokenizer('evil', X'4141414141414141'); "
                    "CREATE TABLE u(a); CREATE VIRTUAL TABLE x USING fts3(a, tokenize=evil); INSERT INTO x VALUES ('boom')"):
            rec = ex.propose(act(db, sql))
            try:
                ex.run(rec.id)
                print("RAN", sql[:30])
            except ActionFailed as exc:
                print("REFUSED", ex.get(rec.id).status, str(exc)[:80])
    """, tmp_path)
    assert res.returncode == 0, f"the executor's process died ({res.returncode}): {res.stderr[-2000:]}"
    assert res.stdout.count("REFUSED failed") == 2, res.stdout + res.stderr


def test_virtual_tables_are_refused_and_the_rest_of_the_database_still_works(tmp_path):
    # logging triggers on an FTS table's shadow tables crashed SQLite during the module's own writes
    res = _in_child("""
        db = tmp / "a.db"
        sqlite3.connect(db).executescript("CREATE TABLE t(id INTEGER PRIMARY KEY, v); "
                                          "CREATE VIRTUAL TABLE f USING fts5(x); INSERT INTO f VALUES ('a b')")
        def dump():
            c = sqlite3.connect(db); d = list(c.iterdump()); c.close(); return d
        before = dump()
        for sql in ("INSERT INTO f VALUES ('more')", "DELETE FROM f", "DROP TABLE f", "INSERT INTO f_data VALUES (99, x'00')",
                    "CREATE VIRTUAL TABLE g USING fts5(y)", "ALTER TABLE f RENAME TO f2",
                    "CREATE TRIGGER sync AFTER INSERT ON t BEGIN INSERT INTO f VALUES (NEW.v); END; INSERT INTO t VALUES (1, 'x')"):
            rec = ex.propose(act(db, sql))
            try:
                ex.run(rec.id)
                print("RAN", sql)
            except ActionFailed:
                print("REFUSED", ex.get(rec.id).status)
        assert dump() == before
        rec = ex.commit(ex.run(ex.propose(act(db, "INSERT INTO t VALUES (5, 'x')")).id).id)
        assert dump() != before
        ex.undo(rec.id)
        print("EXACT" if dump() == before else "DIFFERENT")
    """, tmp_path)
    assert res.returncode == 0, f"the executor's process died ({res.returncode}): {res.stderr[-2000:]}"
    assert res.stdout.count("REFUSED failed") == 7 and "RAN" not in res.stdout, res.stdout
    assert res.stdout.strip().endswith("EXACT"), res.stdout


def test_runaway_query_is_interrupted_and_releases_the_database(executor, tmp_path):
    db = make_db(tmp_path / "a.db")
    executor.handlers["sqlite"].time_limit_s = 0.5
    rec = executor.propose(sql_action(db, "INSERT INTO t VALUES (9, 'z'); WITH RECURSIVE c(x) AS "
                                          "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"))
    with pytest.raises(ActionFailed, match="interrupted"):
        executor.run(rec.id)
    assert executor.get(rec.id).status == "failed"
    conn = sqlite3.connect(db, timeout=0)
    conn.execute("BEGIN IMMEDIATE")  # the write lock is free again
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    conn.rollback()
    conn.close()


@pytest.mark.parametrize("sql", [
    "WITH RECURSIVE c(x) AS (SELECT 3 UNION ALL SELECT x + 1 FROM c LIMIT 500) INSERT INTO t SELECT x, 'v' || x FROM c",
    "UPDATE big SET a = a + 1",
    "ALTER TABLE big ADD COLUMN b DEFAULT 1",   # copied whole for undo
    "DROP TABLE big",
])
def test_actions_too_large_to_keep_for_undo_are_refused(executor, tmp_path, sql):
    # every changed row is kept in the journal: an unbounded count would exhaust the executor's memory
    db = make_db(tmp_path / "a.db", BASE + "CREATE TABLE big(a); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                           "SELECT x + 1 FROM c LIMIT 300) INSERT INTO big SELECT x FROM c;")
    executor.handlers["sqlite"].max_row_changes = 200
    before = state(db)
    rec = executor.propose(sql_action(db, sql))
    with pytest.raises(ActionFailed, match="at most 200"):
        executor.run(rec.id)
    assert executor.get(rec.id).status == "failed" and state(db) == before
    executor.handlers["sqlite"].max_row_changes = 1000
    assert refused_or_undone_exactly(executor, db, sql) == "undone"


def test_a_temp_view_shadowing_a_table_does_not_blind_the_post_state(executor, tmp_path):
    # the digest of what commit leaves (which undo and crash recovery compare against) was read through
    # unqualified pragmas, so a TEMP VIEW named like the table made it cover only the view's columns
    db = make_db(tmp_path / "a.db")
    sql = "UPDATE t SET v = 'changed' WHERE id = 1; CREATE TEMP VIEW t AS SELECT 1 AS id"
    assert refused_or_undone_exactly(executor, db, sql) == "undone"
