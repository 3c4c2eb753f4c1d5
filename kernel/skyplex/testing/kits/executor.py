"""Conformance kit for an executor: the contract every caller relies on."""

from __future__ import annotations

import pytest

from ...errors import NotFoundError
from ...interfaces import Action, ActionRecord
from ._base import must_override


class ExecutorConformance:
    """Contract of an executor. Override ``executor`` and ``action``; override ``snapshot`` (a
    zero-argument callable returning the observable state the action changes) so the kit can check
    that undo restores it exactly."""

    @pytest.fixture
    def executor(self):
        must_override("executor")

    @pytest.fixture
    def action(self) -> Action:
        must_override("action")

    @pytest.fixture
    def snapshot(self):
        return None

    def test_lifecycle_and_undo(self, executor, action, snapshot):
        before = snapshot() if snapshot else None
        rec = executor.propose(action)
        assert isinstance(rec, ActionRecord) and rec.status == "proposed"
        assert executor.run(rec.id).status == "ran"
        if snapshot:
            assert snapshot() == before, "run must not change real state before commit"
        assert executor.commit(rec.id).status == "committed"
        if snapshot:
            assert snapshot() != before, "commit must apply the action"
        assert executor.undo(rec.id).status == "undone"
        if snapshot:
            assert snapshot() == before, "undo must restore the state exactly"

    def test_journal_lists_actions_newest_first(self, executor, action):
        a = executor.propose(action)
        b = executor.propose(action)
        ids = [r.id for r in executor.journal(limit=10)]
        assert ids.index(b.id) < ids.index(a.id)

    def test_unknown_action_id(self, executor):
        with pytest.raises(NotFoundError):
            executor.run("no-such-action")
