"""``skyplex goex ...`` as a person types it: the documented ``run --action-file`` command run as typed in
docs/plugins/goex.md with the real ``skyplex`` executable, bad action files (exit 2, one line, no
traceback), and run/status/undo/log through the real ``skyplex`` group with a scripted model."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from skyplex.testing.docs import plugin_doc

DOC = plugin_doc("goex", __file__)
SKYPLEX = Path(sys.executable).with_name("skyplex")


def _documented_block() -> str:
    text = DOC.read_text()
    section = text[text.index("### Running an action you wrote"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SKYPLEX_DATA_DIR": str(tmp_path / "data"),
            "PATH": f"{SKYPLEX.parent}:{os.environ.get('PATH', '')}"}


@pytest.fixture
def shop(tmp_path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    conn = sqlite3.connect(work / "shop.db")
    conn.executescript("""
        CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);
        CREATE TABLE price_log(item INTEGER, old REAL, new REAL);
        CREATE TRIGGER log_price AFTER UPDATE OF price ON items BEGIN
            INSERT INTO price_log VALUES (OLD.id, OLD.price, NEW.price); END;
        INSERT INTO items(name, price) VALUES ('pen', 1.5), ('cup', 0.5), ('lamp', 30);
    """)
    conn.close()
    return work


def _prices(db: Path) -> list:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT name, price FROM items ORDER BY id").fetchall()
    finally:
        conn.close()


def test_documented_action_file_command_runs_as_typed(tmp_path, shop):
    before = _prices(shop / "shop.db")
    res = subprocess.run(["bash", "-e", "-c", _documented_block()], cwd=shop, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    # the UPDATE changed 2 rows; the database's own trigger and goex's logging wrote more, not counted
    statements = json.loads(res.stdout[res.stdout.index("statements: ") + 12:res.stdout.index("rows: ")])
    assert [s["changes"] for s in statements] == [2]
    assert "discarded" in res.stdout
    assert _prices(shop / "shop.db") == before  # --no-commit: nothing applied


@pytest.mark.parametrize("content, expect", [
    ("{not json", "not a JSON file"),
    ("[1, 2]", "one JSON object"),
    ('{"kind": "sqlite", "payload": "UPDATE"}', "one JSON object"),
    ('{"payload": {}}', "kind"),
])
def test_bad_action_files_are_one_line_usage_errors(tmp_path, shop, content, expect):
    (shop / "bad.json").write_text(content)
    res = subprocess.run([str(SKYPLEX), "goex", "run", "--action-file", "bad.json", "--database", "shop.db",
                          "--no-commit"], cwd=shop, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert expect in res.stderr and "Traceback" not in res.stderr


def test_request_or_action_file_is_required(tmp_path, shop):
    for argv in (["goex", "run"], ["goex", "run", "words", "--action-file", "x.json"]):
        (shop / "x.json").write_text("{}")
        res = subprocess.run([str(SKYPLEX), *argv], cwd=shop, env=_env(tmp_path), capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 2 and "either REQUEST" in res.stderr, res.stderr


def _invoke(kernel_of, argv):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    # each invocation builds (and closes) its own kernel, as the real CLI does
    return CliRunner().invoke(cli, argv, obj=CliState(kernel_factory=lambda _settings: kernel_of()))


def test_cli_run_status_undo_log(goex_kernel, action_model, db, db_state):
    model = action_model({"kind": "sqlite", "payload": {"sql": "UPDATE items SET price = 0"}})
    before = db_state(db)
    kernel_of = lambda: goex_kernel(model)  # noqa: E731
    res = _invoke(kernel_of, ["goex", "run", "make everything free", "--model", "scripted", "--database", str(db),
                              "--commit"])
    assert res.exit_code == 0, res.output
    assert "committed" in res.output
    action_id = res.output.strip().splitlines()[-1].split()[0]
    assert db_state(db) != before
    res = _invoke(kernel_of, ["goex", "undo", action_id])
    assert res.exit_code == 0 and "undone" in res.output, res.output
    assert db_state(db) == before
    res = _invoke(kernel_of, ["goex", "log", "--verify"])
    assert res.exit_code == 0 and "journal intact" in res.output, res.output
    res = _invoke(kernel_of, ["goex", "status", action_id, "--json"])
    assert json.loads(res.output)["status"] == "undone"


def test_json_output_on_every_command_that_prints_records(goex_kernel, action_model, db, db_state):
    model = action_model({"kind": "sqlite", "payload": {"sql": "UPDATE items SET price = 7"}})
    kernel_of = lambda: goex_kernel(model)  # noqa: E731
    before = db_state(db)
    res = _invoke(kernel_of, ["goex", "run", "price everything at 7", "--model", "scripted", "--database", str(db),
                              "--no-commit", "--json"])
    assert res.exit_code == 0, res.output
    ran = json.loads(res.stdout)  # nothing but the final record on stdout
    assert ran["status"] == "discarded" and db_state(db) == before
    res = _invoke(kernel_of, ["--json", "goex", "run", "price everything at 7", "--model", "scripted",
                              "--database", str(db), "--commit"])
    committed = json.loads(res.stdout)
    assert committed["status"] == "committed" and db_state(db) != before
    res = _invoke(kernel_of, ["goex", "undo", committed["id"], "--json"])
    assert json.loads(res.stdout)["status"] == "undone" and db_state(db) == before
    res = _invoke(kernel_of, ["goex", "log", "--verify", "--json"])
    log = json.loads(res.stdout)
    assert res.exit_code == 0 and log["intact"] is True and log["problems"] == []
    assert [a["id"] for a in log["actions"]][:2] == [committed["id"], ran["id"]]  # newest first


def test_json_run_must_not_ask(goex_kernel, action_model, db, db_state):
    model = action_model({"kind": "sqlite", "payload": {"sql": "DELETE FROM items"}})
    before = db_state(db)
    res = _invoke(lambda: goex_kernel(model), ["goex", "run", "empty it", "--model", "scripted",
                                                "--database", str(db), "--json"])
    assert res.exit_code == 2 and "give --commit or --no-commit" in res.stderr, res.output
    assert "Traceback" not in res.output and db_state(db) == before and not model.calls
