"""GoEX undo fidelity: scripted actions (file edits, deletes, renames, modes; DDL+DML mixes; REST
create/update/delete against a local service), each committed and undone; counts exact restorations.
Writes benchmarks/results/goex_undo_fidelity.json.

    .venv/bin/python benchmarks/goex_undo_fidelity.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table
from skyplex.interfaces.executor import Action
from skyplex_goex.executor import GoexExecutor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "goex" / "tests"))
from conftest import TodoService, sqlite_state, tree_state  # noqa: E402  (test helpers double as fixtures here)

OUT = ROOT / "benchmarks" / "results" / "goex_undo_fidelity.json"
FS = ["echo edit >> a.txt", "rm b.txt", "mv c.txt d/c2.txt", "chmod 700 e.sh", "mkdir -p n/m && echo x > n/m/y",
      "rm -r d", "ln -sf a.txt link", "printf '\\000\\001' > bin.dat", "rm .hidden && touch .new", "sed -i s/1/2/ a.txt"]
SQL = ["UPDATE items SET price = price * 2", "DELETE FROM items WHERE id = 2", "INSERT INTO items(name) VALUES ('x;y')",
       "ALTER TABLE items ADD COLUMN qty INT", "CREATE TABLE log(x); INSERT INTO log VALUES (1)", "DROP TABLE tags",
       "CREATE INDEX ix ON items(price); UPDATE items SET name = upper(name)", "DELETE FROM items",
       "ALTER TABLE items RENAME TO goods", "INSERT INTO tags SELECT id, 'copy;' FROM items"]


def main() -> None:
    results = {"fs": [0, 0], "sqlite": [0, 0], "rest": [0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ex = GoexExecutor(data_dir=tmp / "data")
        root = tmp / "p"
        (root / "d").mkdir(parents=True)
        for n in ("a.txt", "b.txt", "c.txt", ".hidden"):
            (root / n).write_text(f"{n} 1\n")
        (root / "e.sh").write_text("#!/bin/sh\n")
        for cmd in FS:
            before = tree_state(root)
            rec = ex.commit(ex.run(ex.propose(Action(kind="fs", payload={"root": str(root), "command": cmd})).id).id)
            ex.undo(rec.id)
            results["fs"][0] += tree_state(root) == before
            results["fs"][1] += 1
        import sqlite3

        db = tmp / "s.db"
        c = sqlite3.connect(db)
        c.executescript("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);"
                        "CREATE TABLE tags(item INT REFERENCES items(id) ON DELETE CASCADE, tag TEXT);"
                        "INSERT INTO items(name, price) VALUES ('a', 0.1), ('b;c', 2.5), ('d', NULL);"
                        "INSERT INTO tags VALUES (1, 't'), (2, 'u');")
        c.close()
        for q in SQL:
            before = sqlite_state(db)
            rec = ex.commit(ex.run(ex.propose(Action(kind="sqlite", payload={"database": str(db), "sql": q})).id).id)
            ex.undo(rec.id)
            results["sqlite"][0] += sqlite_state(db) == before
            results["sqlite"][1] += 1
        svc = TodoService("t0k")
        ex.vault.set("tok", "t0k")
        ex.add_service("todo", {"base_url": svc.url, "secrets": ["tok"], "headers": {"Authorization": "Bearer {{secret:tok}}"},
                                "allow": [{"method": "GET", "path": "/items*"}, {"method": "POST", "path": "/items"},
                                          {"method": "PUT", "path": "/items/*"}, {"method": "PATCH", "path": "/items/*"},
                                          {"method": "DELETE", "path": "/items/*", "restore": "put"}]})
        svc.items = {1: {"id": 1, "t": "a"}, 2: {"id": 2, "t": "b"}}
        svc.next_id = 3
        for method, path, body in [("POST", "/items", {"t": "new"}), ("PUT", "/items/1", {"t": "z"}),
                                   ("PATCH", "/items/2", {"done": True}), ("DELETE", "/items/1", None),
                                   ("POST", "/items", {"t": "n2"}), ("DELETE", "/items/2", None)]:
            before = json.dumps(svc.items, sort_keys=True)
            rec = ex.commit(ex.run(ex.propose(Action(kind="rest", payload={"service": "todo", "method": method, "path": path,
                                                                           "json": body})).id).id)
            ex.undo(rec.id)
            results["rest"][0] += json.dumps(svc.items, sort_keys=True) == before
            results["rest"][1] += 1
        svc.close()
        intact = ex.verify_journal() == []
        ex.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"restored_exactly": results, "journal_intact": intact}, indent=2))
    t = Table(title="undo fidelity")
    t.add_column("kind")
    t.add_column("restored exactly")
    for k, (ok, n) in results.items():
        t.add_row(k, f"{ok}/{n}")
    Console().print(t)
    Console().print(f"journal intact: {intact}")


if __name__ == "__main__":
    main()
