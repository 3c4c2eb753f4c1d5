"""The natural-language flow: the model's action is pinned to the given targets, and backends that can
enforce a grammar are asked for exactly one well-formed action."""

from __future__ import annotations

import json

import pytest
from skyplex.interfaces.model import ModelInfo
from skyplex.testing.fakes import FakeModelBackend
from skyplex_goex.flow import action_schema, propose_from_request


def test_request_to_action_pins_targets(executor, db, db_state, action_model):
    before = db_state(db)
    model = action_model({"kind": "sqlite", "payload": {"database": "/etc/passwd", "sql": "DELETE FROM tags"},
                          "description": "remove all tags"})
    rec = propose_from_request(executor, model, "remove every tag", {"database": str(db)})
    assert rec.status == "ran" and rec.action.payload["database"] == str(db)  # the model's path was ignored
    assert rec.preview["summary"]["row_changes"] == 2 and db_state(db) == before
    (first_prompt, *_), _params = model.calls[0]
    assert "secret" not in json.dumps([m.model_dump() for m in first_prompt]).lower().replace("{{secret", "")
    executor.commit(rec.id)
    executor.undo(rec.id)
    assert db_state(db) == before


def _kinds(schema: dict) -> list[str]:
    variants = schema.get("anyOf", [schema])
    return [v["properties"]["kind"]["const"] for v in variants]


def test_schema_offers_only_the_kinds_whose_target_is_open():
    assert _kinds(action_schema({"root": "/w"}, {})) == ["fs"]
    assert _kinds(action_schema({"database": "/d.db"}, {})) == ["sqlite"]
    assert _kinds(action_schema({"database": "/d.db"}, {"todo": {}})) == ["sqlite", "rest"]
    assert _kinds(action_schema({}, {})) == ["fs", "sqlite", "postgres", "rest"]
    rest = action_schema({}, {"todo": {}, "mail": {}})
    assert rest["properties"]["payload"]["properties"]["service"]["enum"] == ["mail", "todo"]
    # a closed object: the model cannot smuggle a target path through an extra key
    assert all(v["properties"]["payload"]["additionalProperties"] is False
               for v in action_schema({}, {}).get("anyOf"))


class _ConstrainingFake(FakeModelBackend):
    def info(self) -> ModelInfo:
        return super().info().model_copy(update={"supports_constraints": True})


def _answer(prompt: str) -> str:
    return '{"kind": "fs", "payload": {"command": "echo hi > hello.txt"}, "description": "greet"}'


@pytest.mark.parametrize("constraining", [True, False])
def test_the_schema_goes_only_to_backends_that_enforce_it(executor, tmp_path, constraining):
    model = (_ConstrainingFake if constraining else FakeModelBackend)(_answer)
    root = tmp_path / "w"
    root.mkdir()
    rec = propose_from_request(executor, model, "say hi in a file", {"root": str(root)}, run=False)
    assert rec.action.kind == "fs" and rec.action.payload["root"] == str(root)
    (_, params), = model.calls
    if constraining:
        assert params.constraint is not None and params.constraint.json_schema == action_schema({"root": str(root)}, {})
    else:
        assert params.constraint is None  # never sent to a backend that would refuse or ignore it


@pytest.mark.slow
def test_the_offline_model_proposes_a_well_formed_action(executor, tmp_path, skyplex_local_backend):
    """SmolLM2-135M alone rarely writes parseable action JSON; constrained, it always does."""
    root = tmp_path / "w"
    root.mkdir()
    (root / "notes.txt").write_text("draft\n")
    rec = propose_from_request(executor, skyplex_local_backend, "delete notes.txt", {"root": str(root)},
                               run=False)
    assert rec.action.kind == "fs"
    assert isinstance(rec.action.payload["command"], str)
    assert rec.action.payload["root"] == str(root)
    json.dumps(rec.action.payload)  # a plain JSON payload, journaled as proposed
