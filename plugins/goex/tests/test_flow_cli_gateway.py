"""The post-facto flow with a kernel model backend, the CLI and the gateway routes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from skyplex.interfaces.model import Completion, ModelBackend, ModelInfo, Usage


class ScriptedModel(ModelBackend):
    """A model backend that answers with a fixed action (and some chatter around it)."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer
        self.prompts = []

    def info(self) -> ModelInfo:
        return ModelInfo(backend="scripted", model="scripted")

    def generate(self, prompts, params=None):
        self.prompts.extend(prompts)
        text = "Sure! " + json.dumps(self.answer) + " done."
        return [Completion(text=text, finish_reason="stop", usage=Usage(prompt_tokens=1, completion_tokens=1))
                for _ in prompts]


def test_request_to_action_pins_targets(executor, db, db_state, tmp_path):
    from skyplex_goex.flow import propose_from_request

    before = db_state(db)
    model = ScriptedModel({"kind": "sqlite", "payload": {"database": "/etc/passwd", "sql": "DELETE FROM tags"},
                           "description": "remove all tags"})
    rec = propose_from_request(executor, model, "remove every tag", {"database": str(db)})
    assert rec.status == "ran" and rec.action.payload["database"] == str(db)  # the model's path was ignored
    assert rec.preview["summary"]["row_changes"] == 2 and db_state(db) == before
    assert "secret" not in json.dumps([m.model_dump() for m in model.prompts[0]]).lower().replace("{{secret", "")
    executor.commit(rec.id)
    executor.undo(rec.id)
    assert db_state(db) == before


def _kernel(tmp_path, model):
    from skyplex.config import Settings
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    kernel = Kernel(settings=Settings(data_dir=tmp_path / "kdata"),
                    pm=make_plugin_manager(builtins=False, entrypoints=True, allowlist={"goex"})).startup()
    kernel.models.register("scripted", lambda: model, plugin="test")
    return kernel


def test_cli_run_status_undo_log(tmp_path, db, db_state):
    from skyplex.cli.context import CliState
    from skyplex.cli.main import cli

    model = ScriptedModel({"kind": "sqlite", "payload": {"sql": "UPDATE items SET price = 0"}})
    before = db_state(db)
    kernels = []

    def factory(_settings):  # each invocation builds (and closes) its own kernel, as the real CLI does
        kernels.append(_kernel(tmp_path, model))
        return kernels[-1]

    try:
        runner = CliRunner()
        res = runner.invoke(cli, ["goex", "run", "make everything free", "--model", "scripted", "--database", str(db),
                                  "--commit"], obj=CliState(kernel_factory=factory))
        assert res.exit_code == 0, res.output
        assert "committed" in res.output
        action_id = res.output.strip().splitlines()[-1].split()[0]
        assert db_state(db) != before
        res = runner.invoke(cli, ["goex", "undo", action_id], obj=CliState(kernel_factory=factory))
        assert res.exit_code == 0 and "undone" in res.output, res.output
        assert db_state(db) == before
        res = runner.invoke(cli, ["goex", "log", "--verify"], obj=CliState(kernel_factory=factory))
        assert res.exit_code == 0 and "journal intact" in res.output, res.output
        res = runner.invoke(cli, ["goex", "status", action_id, "--json"], obj=CliState(kernel_factory=factory))
        assert json.loads(res.output)["status"] == "undone"
    finally:
        for k in kernels:
            k.close()


def test_gateway_routes(tmp_path, db, db_state):
    gateway = pytest.importorskip("skyplex.gateway")
    from fastapi.testclient import TestClient

    model = ScriptedModel({"kind": "sqlite", "payload": {"sql": "INSERT INTO items(name) VALUES ('a;b')"}})
    kernel = _kernel(tmp_path, model)
    before = db_state(db)
    try:
        app = gateway.create_app(kernel, api_key="k", auth=True)
        h = {"Authorization": "Bearer k"}
        with TestClient(app) as client:
            r = client.post("/plugins/goex/requests", json={"request": "add an item", "model": "scripted",
                                                            "database": str(db)}, headers=h)
            assert r.status_code == 200, r.text
            action_id = r.json()["id"]
            assert r.json()["status"] == "ran"
            r = client.post(f"/v1/executors/goex/actions/{action_id}/commit", headers=h)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "committed"
            r = client.post(f"/plugins/goex/actions/{action_id}/undo", headers=h)
            assert r.json()["status"] == "undone" and db_state(db) == before
            assert [e["event"] for e in client.get(f"/plugins/goex/actions/{action_id}/events", headers=h).json()][-1] == "undone"
            assert client.get("/plugins/goex/journal/verify", headers=h).json() == {"intact": True, "problems": []}
            assert client.get("/plugins/goex/actions/nope/events", headers=h).status_code == 404
    finally:
        kernel.close()
