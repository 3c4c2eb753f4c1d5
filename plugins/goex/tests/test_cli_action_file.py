"""The documented ``skyplex goex run --action-file`` command, run as typed in docs/plugins/goex.md with
the real ``skyplex`` executable, plus bad action files (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "goex.md"
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
