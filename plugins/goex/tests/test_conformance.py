"""The kernel's conformance kits, for fs and SQLite actions, the entry point and the plugin shape."""

from __future__ import annotations

import pytest
from skyplex.interfaces.executor import Action
from skyplex.testing import EntryPointConformance, ExecutorConformance, PluginShapeConformance


class TestGoexFsConformance(ExecutorConformance):
    @pytest.fixture
    def executor(self, goex_executor):
        return goex_executor
    @pytest.fixture
    def action(self, project, needs_sandbox) -> Action:
        return Action(kind="fs", payload={"root": str(project), "command": "echo more >> README.md; rm debug.log"})

    @pytest.fixture
    def snapshot(self, project, snapshot_tree):
        return lambda: snapshot_tree(project)


class TestGoexSqliteConformance(ExecutorConformance):
    @pytest.fixture
    def executor(self, goex_executor):
        return goex_executor
    @pytest.fixture
    def action(self, db) -> Action:
        return Action(kind="sqlite", payload={"database": str(db), "sql": "UPDATE items SET price = 2 WHERE id = 1;"
                                              " CREATE TABLE audit(x); DELETE FROM items WHERE name = 'cup'"})

    @pytest.fixture
    def snapshot(self, db, db_state):
        return lambda: db_state(db)


class TestGoexEntryPoint(EntryPointConformance):
    plugin_name = "goex"
    expected = {"executor": ["goex"]}


class TestGoexShape(PluginShapeConformance):
    package = "skyplex_goex"
