"""The store: SQLite and PostgreSQL behave the same; bad URLs and dead servers give errors for people."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from skyplex.errors import InvalidInputError, SkyplexError
from skyplex.interfaces.common import GPUType
from skyplex.store import SchemaVersionError, Store, StoreUnavailableError, parse_database_url
from skyplex.store import schema_version as schema_version_table
from skyplex.testing.postgres import temporary_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """A URL for an empty database: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'dir' / 'skyplex.db'}"
        return
    with temporary_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.dispose()


def test_kv_round_trip(store):
    assert store.kv_get("melange", "prices") is None
    assert store.kv_get("melange", "prices", default={}) == {}
    store.kv_put("melange", "prices", {"A100": 3.67, "H100": [1, 2]})
    store.kv_put("melange", "note", "hello")
    store.kv_put("melange", "gpu", GPUType(name="L4", memory_gb=24, price_per_hour=0.7))
    store.kv_put("arena", "prices", 1)  # same key, other namespace
    assert store.kv_get("melange", "prices") == {"A100": 3.67, "H100": [1, 2]}
    assert store.kv_get("melange", "gpu")["name"] == "L4"

    store.kv_put("melange", "prices", [3, 4])  # replaces
    assert store.kv_list("melange") == {
        "gpu": store.kv_get("melange", "gpu"),
        "note": "hello",
        "prices": [3, 4],
    }
    assert store.kv_delete("melange", "prices") is True
    assert store.kv_delete("melange", "prices") is False
    assert "prices" not in store.kv_list("melange")
    assert store.kv_list("arena") == {"prices": 1}
    assert store.kv_list("nobody") == {}


def test_kv_refuses_values_that_are_not_json(store):
    with pytest.raises(InvalidInputError, match="kv value melange/x is not JSON-serialisable"):
        store.kv_put("melange", "x", object())
    with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
        store.kv_put("melange", "x", float("nan"))  # PostgreSQL's JSON has no NaN; SQLite must agree
    with pytest.raises(InvalidInputError, match="namespace"):
        store.kv_put("", "x", 1)


def test_create_tables_is_idempotent(store, store_url):
    md = MetaData()
    things = Table("testplugin_things", md, Column("id", Integer, primary_key=True), Column("label", String(50)))
    store.create_tables(md)
    store.create_tables(md)
    with store.begin() as conn:
        conn.execute(things.insert().values(id=1, label="kept"))

    again = Store(store_url)  # reopening creates nothing twice and keeps the rows
    try:
        again.create_tables(md)
        with again.connect() as conn:
            assert conn.execute(select(things.c.label)).scalars().all() == ["kept"]
        assert again.schema_version() == 1
    finally:
        again.dispose()


def test_begin_rolls_back_when_the_block_raises(store):
    md = MetaData()
    t = Table("testplugin_rollback", md, Column("id", Integer, primary_key=True))
    store.create_tables(md)
    with pytest.raises(RuntimeError), store.begin() as conn:
        conn.execute(t.insert().values(id=1))
        raise RuntimeError("abort")
    with store.connect() as conn:
        assert conn.execute(select(t.c.id)).all() == []


def test_newer_schema_is_refused(store, store_url):
    with store.begin() as conn:
        conn.execute(update(schema_version_table).values(version=99))
    with pytest.raises(SchemaVersionError, match=r"newer skyplex \(schema version 99"):
        Store(store_url)


def test_sqlite_file_settings(tmp_path):
    path = tmp_path / "a" / "b" / "skyplex.db"
    store = Store(f"sqlite:///{path}")
    try:
        assert path.exists()  # the folders were created
        with store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert store.url == f"sqlite:///{path}"
    finally:
        store.dispose()


def test_sqlite_concurrent_writers_from_threads(tmp_path):
    url = f"sqlite:///{tmp_path / 'skyplex.db'}"
    stores = [Store(url), Store(url)]  # two engines: like two processes sharing the file
    md = MetaData()
    counter = Table("testplugin_counter", md, Column("id", Integer, primary_key=True), Column("n", Integer))
    stores[0].create_tables(md)
    with stores[0].begin() as conn:
        conn.execute(counter.insert().values(id=1, n=0))
    errors: list[BaseException] = []
    writers, rounds = 8, 25

    def writer(i: int) -> None:
        store = stores[i % 2]
        try:
            for r in range(rounds):
                store.kv_put("load", f"w{i}-{r}", {"i": i, "r": r})
                # read-modify-write: would lose updates (or fail with SQLITE_BUSY) without a real write lock
                with store.begin() as conn:
                    n = conn.execute(select(counter.c.n).where(counter.c.id == 1)).scalar_one()
                    conn.execute(update(counter).where(counter.c.id == 1).values(n=n + 1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert len(stores[1].kv_list("load")) == writers * rounds
        with stores[1].connect() as conn:
            assert conn.execute(select(counter.c.n)).scalar_one() == writers * rounds
    finally:
        for s in stores:
            s.dispose()


def test_sqlite_unusable_location_is_explained(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailableError, match="cannot create the folder") as info:
        Store(f"sqlite:///{blocker / 'skyplex.db'}")
    assert "SKYPLEX_DATA_DIR" in info.value.message


@pytest.mark.parametrize(
    "url",
    ["", "   ", "not a url", "mysql://user@db.example/skyplex", "oracle+cx_oracle://u:p@h/x", "postgresql://"],
)
def test_bad_urls_name_the_setting_and_the_expected_form(url):
    with pytest.raises(InvalidInputError) as info:
        Store(url)
    err = info.value
    assert err.field == "SKYPLEX_DATABASE_URL"
    assert "SKYPLEX_DATABASE_URL" in err.message
    assert "sqlite:///" in err.message and "postgresql://" in err.message


def test_postgres_urls_use_psycopg3():
    assert parse_database_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgresql+psycopg://u:p@h/db").drivername == "postgresql+psycopg"


def _closed_port() -> int:
    """A local port nothing listens on (bound and released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_postgres_is_explained_without_the_password(caplog):
    port = _closed_port()
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        Store(f"postgresql://skyplex:hunter2@127.0.0.1:{port}/skyplex")
    assert time.monotonic() - start < 10
    err = info.value
    assert isinstance(err, SkyplexError)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in err.message
    assert "server is running" in err.message and "SKYPLEX_DATABASE_URL" in err.message
    assert "hunter2" not in err.message
    assert "skyplex:***@" in err.message
    assert err.__cause__ is None and err.__suppress_context__  # no raw driver traceback chained on


@pytest.mark.postgres
def test_postgres_password_is_masked_in_repr_and_logs(postgres_url, caplog):
    url = parse_database_url(postgres_url).set(password="hunter2")  # trust auth ignores it
    with caplog.at_level(logging.INFO, logger="skyplex.store"):
        store = Store(url.render_as_string(hide_password=False))
    try:
        assert "hunter2" not in repr(store) and "***" in repr(store)
        assert "hunter2" not in store.url
        assert "hunter2" not in caplog.text and "***" in caplog.text
    finally:
        store.dispose()


def test_test_postgres_is_explained_when_binaries_are_missing(monkeypatch, tmp_path):
    from skyplex.testing import postgres

    monkeypatch.delenv(postgres.ENV_URL, raising=False)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda *a, **k: None)
    with pytest.raises(postgres.PostgresUnavailable, match=r"apt-get install -y postgresql") as info:
        postgres.start_postgres(tmp_path)
    assert "SKYPLEX_TEST_POSTGRES_URL" in info.value.reason


def test_test_postgres_uses_the_configured_server(monkeypatch, tmp_path):
    from skyplex.testing import postgres

    monkeypatch.setenv(postgres.ENV_URL, "postgresql://someone@db.example:5433/tests")
    server = postgres.start_postgres(tmp_path)
    assert server.url == "postgresql://someone@db.example:5433/tests" and server.external
    server.stop()  # leaves a server it did not start alone
    assert list(tmp_path.iterdir()) == []
