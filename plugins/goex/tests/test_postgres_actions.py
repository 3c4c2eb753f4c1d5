"""PostgreSQL actions on a real throwaway server: transactional DDL held by PREPARE TRANSACTION for review."""

from __future__ import annotations

import pytest
from skyplex.interfaces.executor import Action
from skyplex_goex.executor import ApprovalRequired
from skyplex_goex.handlers import ConflictError

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.postgres


def pg(url, sql):
    return Action(kind="postgres", payload={"url": url, "sql": sql})


def tables(url):
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


def test_ddl_is_held_for_review_and_rolled_back_on_undo(executor, pg_url):
    rec = executor.propose(pg(pg_url, "CREATE TABLE t1(id int, note text); INSERT INTO t1 VALUES (1, 'a;b'), (2, 'c')"))
    assert rec.outcome["classification"] == "irreversible"
    rec = executor.run(rec.id)
    assert [s["rowcount"] for s in rec.preview["statements"]] == [-1, 2]
    assert "t1" not in tables(pg_url)  # prepared, not committed
    assert executor.undo(rec.id).status == "discarded"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0] == 0
    assert "t1" not in tables(pg_url)


def test_commit_needs_approval_then_applies(executor, pg_url):
    rec = executor.run(executor.propose(pg(pg_url, "CREATE TABLE t2(x int); INSERT INTO t2 VALUES (42)")).id)
    with pytest.raises(ApprovalRequired):
        executor.commit(rec.id)
    executor.approve(rec.id)
    assert executor.commit(rec.id).status == "committed"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT x FROM t2").fetchall() == [(42,)]
    with pytest.raises(ConflictError, match="irreversible"):
        executor.undo(rec.id)


def test_prepared_transaction_survives_an_executor_restart(tmp_path, pg_url):
    from skyplex_goex.executor import GoexExecutor

    ex = GoexExecutor(data_dir=tmp_path / "d")
    rec = ex.run(ex.propose(pg(pg_url, "CREATE TABLE t3(x int)")).id)
    ex.close()
    ex = GoexExecutor(data_dir=tmp_path / "d")
    ex.approve(rec.id)
    ex.commit(rec.id)
    ex.close()
    assert "t3" in tables(pg_url)
