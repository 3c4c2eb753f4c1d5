"""SQLite actions: explicit transactions, exact undo from the changeset, statement splitting, refusals."""

from __future__ import annotations

import sqlite3

import pytest
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ActionFailed, ConflictError
from skyplex_goex.sqlsplit import split_sqlite


def sql(db, text):
    return Action(kind="sqlite", payload={"database": str(db), "sql": text})


def test_split_respects_literals_comments_and_trigger_bodies():
    script = ("INSERT INTO t VALUES ('a;b', \"c;d\"); -- x; y\n"
              "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 'x;'; DELETE FROM u; END;\n"
              "/* ; */ SELECT ';'")
    parts = split_sqlite(script)
    assert len(parts) == 3
    assert parts[0].startswith("INSERT") and "'a;b'" in parts[0]
    assert parts[1].startswith("-- x; y\nCREATE TRIGGER") and parts[1].endswith("END;")
    assert parts[2].endswith("SELECT ';'")


def test_run_rolls_back_ddl_and_dml(executor, db, db_state):
    before = db_state(db)
    rec = executor.run(executor.propose(sql(db, "CREATE TABLE x(a); INSERT INTO x VALUES(1); DROP TABLE tags;"
                                                 " INSERT INTO items(name) VALUES ('semi;colon')")).id)
    assert db_state(db) == before
    assert rec.preview["created"] == [["table", "x"]] and "tags" in rec.preview["ddl_tables"]
    inserted = [r for r in rec.preview["rows"] if r["op"] == "insert" and r["table"] == "items"]
    assert inserted and inserted[0]["new"][1] == "semi;colon"


def test_ddl_dml_mix_undoes_exactly(executor, db, db_state):
    before = db_state(db)
    script = ("UPDATE items SET price = price * 3, img = x'beef' WHERE id = 1; DELETE FROM items WHERE id = 2;"
              " ALTER TABLE items ADD COLUMN stock INTEGER DEFAULT 0; DROP INDEX items_name;"
              " CREATE TABLE orders(id INTEGER PRIMARY KEY, item INT); INSERT INTO orders(item) VALUES (1);"
              " CREATE VIEW cheap AS SELECT * FROM items WHERE price < 1; INSERT INTO tags VALUES (3, 'a;b')")
    rec = executor.commit(executor.run(executor.propose(sql(db, script)).id).id)
    assert db_state(db) != before
    executor.undo(rec.id)
    assert db_state(db) == before


def test_row_changes_with_cascades_undo_exactly(executor, db, db_state):
    before = db_state(db)
    rec = executor.commit(executor.run(executor.propose(sql(db, "DELETE FROM items WHERE id = 1;"
                                                                " UPDATE tags SET tag = 'x' WHERE item = 2")).id).id)
    assert rec.outcome["row_changes"] >= 3  # the cascade deleted tag rows too
    executor.undo(rec.id)
    assert db_state(db) == before


def test_transaction_control_and_attach_are_refused(executor, db, db_state, tmp_path):
    before = db_state(db)
    for text in ("COMMIT; DELETE FROM items", "DELETE FROM items; COMMIT",
                 f"ATTACH DATABASE '{tmp_path}/other.db' AS o", "SAVEPOINT s; DELETE FROM items"):
        with pytest.raises(ActionFailed, match="not allowed"):
            executor.run(executor.propose(sql(db, text)).id)
    assert db_state(db) == before


def test_commit_refused_when_database_changed_since_run(executor, db):
    rec = executor.run(executor.propose(sql(db, "UPDATE items SET price = 9 WHERE price < 1")).id)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO items(name, price) VALUES ('new', 0.5)")
    conn.commit()
    conn.close()
    with pytest.raises(ConflictError, match="changed since"):
        executor.commit(rec.id)


def test_undo_refused_after_later_change(executor, db):
    rec = executor.commit(executor.run(executor.propose(sql(db, "UPDATE items SET name = 'x' WHERE id = 3")).id).id)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE items SET name = 'y' WHERE id = 3")
    conn.commit()
    conn.close()
    with pytest.raises(ConflictError, match="changed again"):
        executor.undo(rec.id)


def test_bad_sql_fails_cleanly(executor, db, db_state):
    before = db_state(db)
    with pytest.raises(ActionFailed, match="SQL failed"):
        executor.run(executor.propose(sql(db, "INSERT INTO items(name) VALUES ('ok'); INSERT INTO nope VALUES (1)")).id)
    assert db_state(db) == before
    assert executor.journal(1)[0].status == "failed"


def test_read_only_classification(executor, db):
    assert executor.propose(sql(db, "SELECT * FROM items; -- a;b")).outcome["classification"] == "read-only"
    assert executor.propose(sql(db, "SELECT 1; DELETE FROM items")).outcome["classification"] == "reversible"
