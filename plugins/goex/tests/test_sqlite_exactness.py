"""SQLite undo beyond rows: schema objects, renames, REPLACE, the database's own triggers, data-carrying
pragmas, sqlite_sequence and sqlite_stat1, foreign keys; by example and by random scripts over a schema
with all of them (hypothesis)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ConflictError

SCHEMA = """
CREATE TABLE items(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, price REAL);
CREATE TABLE tags(id INTEGER PRIMARY KEY, item INTEGER REFERENCES items(id), tag TEXT);
CREATE TABLE audit(n INTEGER PRIMARY KEY, what TEXT);
CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO kv VALUES ('pen', 1), ('cup', x'00ff');
CREATE INDEX tags_tag ON tags(tag);
CREATE VIEW cheap AS SELECT name FROM items WHERE price < 1;
CREATE TRIGGER items_audit AFTER UPDATE ON items BEGIN INSERT INTO audit(what) VALUES ('update ' || NEW.name); END;
CREATE TRIGGER items_gone AFTER DELETE ON items BEGIN INSERT INTO audit(what) VALUES ('delete ' || OLD.name); END;
INSERT INTO items(name, price) VALUES ('pen', 1.5), ('cup', 0.5), ('lamp', 30);
INSERT INTO tags(item, tag) VALUES (1, 'office'), (2, 'kitchen');
PRAGMA user_version = 3;
ANALYZE;
"""


def make_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.close()
    return path


def full_state(path: Path) -> dict:
    """Everything undo must restore: schema SQL, every table's rows with rowids (internal tables too), pragmas."""
    conn = sqlite3.connect(path)
    try:
        out = {"schema": sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                                key=repr)}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            try:
                rows = conn.execute(f'SELECT rowid, * FROM "{name}"').fetchall()
            except sqlite3.OperationalError:
                rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            out[name] = sorted(rows, key=repr)
        out["pragmas"] = [conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("user_version", "application_id")]
        return out
    finally:
        conn.close()


def sql_action(db: Path, sql: str) -> Action:
    return Action(kind="sqlite", payload={"database": str(db), "sql": sql})


def roundtrip(executor, db: Path, sql: str) -> None:
    before = full_state(db)
    rec = executor.commit(executor.run(executor.propose(sql_action(db, sql)).id).id)
    assert full_state(db) != before, "the action changed nothing; the test would prove nothing"
    executor.undo(rec.id)
    assert full_state(db) == before


@pytest.mark.parametrize("sql", [
    "DROP VIEW cheap; DROP INDEX tags_tag; DROP TRIGGER items_audit",
    "ALTER TABLE items RENAME TO goods",                       # rewrites the view's and triggers' SQL
    "ALTER TABLE items RENAME COLUMN price TO cost",
    "INSERT OR REPLACE INTO items(id, name, price) VALUES (1, 'pencil', 2)",
    "INSERT OR REPLACE INTO items(name, price) VALUES ('lamp', 9)",  # replaces by the UNIQUE name
    "UPDATE OR REPLACE items SET name = 'lamp' WHERE name = 'pen'",
    "UPDATE items SET price = price * 2",                       # the audit trigger fires on commit only
    "DELETE FROM items WHERE name = 'lamp'",
    "INSERT INTO items(name, price) VALUES ('new', 1); DELETE FROM items WHERE name = 'new'",  # sequence moved
    "PRAGMA user_version = 42",
    "INSERT INTO items(name, price) VALUES ('x', 1), ('y', 2); ANALYZE",
    "CREATE TABLE extra(a); CREATE VIEW v2 AS SELECT * FROM extra; INSERT INTO extra VALUES (1)",
])
def test_schema_and_metadata_changes_undo_exactly(executor, tmp_path, sql):
    roundtrip(executor, make_db(tmp_path / "shop.db"), sql)


def test_undo_that_would_break_a_foreign_key_is_a_conflict(executor, tmp_path):
    db = make_db(tmp_path / "shop.db")
    rec = executor.commit(executor.run(executor.propose(sql_action(db, "INSERT INTO items(name, price) VALUES ('bike', 99)")).id).id)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("INSERT INTO tags(item, tag) VALUES ((SELECT id FROM items WHERE name='bike'), 'sport')")
    conn.commit()
    conn.close()
    after = full_state(db)
    for force in (False, True):
        with pytest.raises(ConflictError):
            executor.undo(rec.id, force=force)
    assert full_state(db) == after


def test_preview_counts_each_statements_own_changes(executor, tmp_path):
    db = make_db(tmp_path / "shop.db")
    rec = executor.run(executor.propose(sql_action(db, "UPDATE items SET price = 0 WHERE price < 2; SELECT 1")).id)
    assert [s["changes"] for s in rec.preview["statements"]] == [2, 0]


# random scripts ------------------------------------------------------------------------------------------
NAMES = st.sampled_from(["pen", "cup", "lamp", "new", "bike"])
PRICES = st.sampled_from(["0.5", "1", "2.25", "NULL", "1e300"])
STATEMENTS = st.one_of(
    st.builds(lambda n, p: f"INSERT OR IGNORE INTO items(name, price) VALUES ('{n}', {p})", NAMES, PRICES),
    st.builds(lambda n, p: f"INSERT OR REPLACE INTO items(name, price) VALUES ('{n}', {p})", NAMES, PRICES),
    st.builds(lambda n, p: f"UPDATE items SET price = {p} WHERE name = '{n}'", NAMES, PRICES),
    st.builds(lambda a, b: f"UPDATE OR REPLACE items SET name = '{b}' WHERE name = '{a}'", NAMES, NAMES),
    st.builds(lambda n: f"DELETE FROM tags WHERE item IN (SELECT id FROM items WHERE name = '{n}')", NAMES),
    st.builds(lambda n: f"INSERT INTO tags(item, tag) SELECT id, 't' FROM items WHERE name = '{n}'", NAMES),
    st.builds(lambda n: f"DELETE FROM audit WHERE what LIKE '%{n}'", NAMES),
    st.just("DROP INDEX IF EXISTS tags_tag"),
    st.just("DROP VIEW IF EXISTS cheap"),
    st.just("DROP TRIGGER IF EXISTS items_gone"),
    st.just("CREATE INDEX IF NOT EXISTS items_price ON items(price)"),
    st.just("ALTER TABLE audit ADD COLUMN extra TEXT DEFAULT 'x'"),
    st.just("ALTER TABLE tags RENAME TO labels"),
    st.builds(lambda v: f"PRAGMA user_version = {v}", st.integers(0, 1000)),
    st.just("ANALYZE"),
    st.builds(lambda n, p: f"INSERT OR REPLACE INTO kv VALUES ('{n}', {p})", NAMES, PRICES),
    st.builds(lambda a, b: f"UPDATE OR IGNORE kv SET k = '{b}' WHERE k = '{a}'", NAMES, NAMES),
    st.builds(lambda n: f"DELETE FROM kv WHERE k = '{n}'", NAMES),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=st.lists(STATEMENTS, min_size=1, max_size=6))
def test_random_scripts_undo_exactly(executor, tmp_path, script):
    db = make_db(tmp_path / f"{uuid.uuid4().hex}.db")
    before = full_state(db)
    sql = ";\n".join(script)
    try:
        rec = executor.run(executor.propose(sql_action(db, sql)).id)
    except Exception as exc:  # a script SQLite itself rejects (e.g. a duplicate column): nothing may change
        assert "SQL failed" in str(exc), exc
        assert full_state(db) == before
        return
    executor.commit(rec.id)
    executor.undo(rec.id)
    assert full_state(db) == before, sql


def test_without_rowid_tables_are_logged_by_key_not_copied(executor, tmp_path):
    db = make_db(tmp_path / "shop.db")
    conn = sqlite3.connect(db)
    conn.executescript("""CREATE TABLE kv2(k TEXT, n INTEGER, v BLOB, PRIMARY KEY (k, n)) WITHOUT ROWID;
        INSERT INTO kv2 VALUES ('a', 1, x'00'), ('b', 2, NULL), ('c', 3, 1.5), ('d', 4, 'other writer');""")
    conn.close()
    before = full_state(db)
    sql = "UPDATE kv2 SET v = 'x', n = 9 WHERE k = 'a'; DELETE FROM kv2 WHERE k = 'b'; INSERT INTO kv2 VALUES ('z', 0, 2.5)"
    rec = executor.commit(executor.run(executor.propose(sql_action(db, sql)).id).id)
    assert "kv2" not in executor.journal_db.get(rec.id)["undo_data"]["saved_tables"]  # no whole-table copy
    executor.undo(rec.id)
    assert full_state(db) == before
    # a row the action did not touch, changed by someone else: a conflict, and force leaves it alone
    rec = executor.commit(executor.run(executor.propose(sql_action(db, sql)).id).id)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE kv2 SET v = 'changed later' WHERE k = 'd'")
    conn.commit()
    conn.close()
    with pytest.raises(ConflictError):
        executor.undo(rec.id)
    executor.undo(rec.id, force=True)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT v FROM kv2 WHERE k = 'd'").fetchone() == ("changed later",)
    assert conn.execute("SELECT k, n, v FROM kv2 WHERE k IN ('a', 'b', 'z') ORDER BY k").fetchall() == [
        ("a", 1, b"\x00"), ("b", 2, None)]
    conn.close()
