"""Hostile SQL against the PostgreSQL actions: statements that end the action's transaction early (so
the run would make its changes permanent before anyone reviewed them) or finish another action's
prepared transaction. Each must be refused with nothing changed on the server."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.interfaces.executor import Action
from skyplex_goex.handlers import ActionFailed

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.postgres


def pg(url, sql):
    return Action(kind="postgres", payload={"url": url, "sql": sql})


def tables(url):
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


def prepared(url):
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT gid FROM pg_prepared_xacts"))


@pytest.mark.parametrize("sql", [
    "COMMIT; CREATE TABLE early1(a int)",
    "CREATE TABLE early2(a int); COMMIT; CREATE TABLE early3(a int)",
    "END; CREATE TABLE early4(a int)",
    "ROLLBACK; CREATE TABLE early5(a int)",
    "CREATE TABLE early6(a int); COMMIT AND CHAIN; SELECT 1",
    "DO $$ BEGIN CREATE TABLE early7(a int); COMMIT; END $$",
    "PREPARE TRANSACTION 'mine'; CREATE TABLE early8(a int)",
    "CREATE TABLE early9(a int); /* nested /* */ COMMIT; */ COMMIT",
])
def test_the_run_cannot_end_its_own_transaction(executor, pg_url, sql):
    before = tables(pg_url), prepared(pg_url)
    rec = executor.propose(pg(pg_url, sql))
    try:
        rec = executor.run(rec.id)
    except ActionFailed:
        assert executor.get(rec.id).status == "failed"
    else:
        executor.undo(rec.id)  # discard: roll the prepared transaction back
    assert (tables(pg_url), prepared(pg_url)) == before, "the run changed the server before review"


def test_an_action_cannot_finish_another_actions_prepared_transaction(executor, pg_url):
    held = executor.run(executor.propose(pg(pg_url, "CREATE TABLE held(a int)")).id)
    gid = held.preview["prepared_transaction"]
    try:
        for verb in ("COMMIT", "ROLLBACK"):
            rec = executor.propose(pg(pg_url, f"{verb} PREPARED '{gid}'"))
            try:
                executor.run(rec.id)
            except ActionFailed:
                pass
            else:
                executor.undo(rec.id)
            assert gid in prepared(pg_url) and "held" not in tables(pg_url)
    finally:
        executor.undo(held.id)


def test_one_piece_holding_two_commands_is_refused_by_the_server(pg_url):
    # the premise that makes a splitter mistake harmless: the extended protocol runs one command only
    with psycopg.connect(pg_url) as conn:
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            conn.execute("CREATE TABLE two_in_one(a int); COMMIT", prepare=True)


TRICKY = st.sampled_from([
    "'a;b'", "'it''s; COMMIT'", "E'x\\';y'", "$$ ; COMMIT; $$", "$t$ ; $$ ; $t$", "1 /* ; /* ; */ COMMIT; */",
    "2 -- ; COMMIT\n", "'x' AS \"col;umn\"", "'$$'", "U&'d\\0061t;a'",
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(TRICKY, min_size=1, max_size=5))
def test_split_matches_the_server(pg_url, values):
    from skyplex_goex.sqlsplit import split_postgres

    script = ";\n".join(f"SELECT {v}" for v in values)
    pieces = split_postgres(script)
    assert len(pieces) == len(values), pieces
    with psycopg.connect(pg_url) as conn:
        for piece in pieces:  # each piece is one command the server accepts on its own
            assert len(conn.execute(piece, prepare=True).fetchall()) == 1


@pytest.mark.parametrize("sql", [
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/goex-copy-program'",
    "CREATE TABLE c(a int); COPY c FROM PROGRAM 'echo 1'",
    "COPY (SELECT 1) TO '/tmp/goex-copy-file'",
])
def test_copy_with_effects_outside_the_transaction_is_refused(executor, pg_url, sql):
    rec = executor.propose(pg(pg_url, sql))
    with pytest.raises(ActionFailed, match="COPY is not allowed"):
        executor.run(rec.id)
    assert executor.get(rec.id).status == "failed"
