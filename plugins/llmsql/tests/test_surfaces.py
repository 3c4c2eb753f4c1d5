"""`skyplex llmsql query|plan` and POST /plugins/llmsql/query."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner


def _cli(make_kernel, args):
    from skyplex.cli.context import CliState
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args, obj=CliState(kernel_factory=lambda settings: make_kernel()))


def test_cli_query_on_a_duckdb_file(tmp_path, make_kernel):
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('b', 'x'), ('a', 'y'), ('b', 'x')) v(k, v)")
    con.close()
    res = _cli(make_kernel, ["llmsql", "query", "SELECT k, llm('Echo', k, v) AS e FROM t ORDER BY k",
                             "--db", str(path), "--model", "echo", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["rows"] == [["a", "a|y"], ["b", "b|x"], ["b", "b|x"]]
    assert data["calls"][0]["distinct_prompts"] == 2
    bad = _cli(make_kernel, ["llmsql", "query", "SELECT llm('q', nope) FROM t", "--db", str(path), "--model", "echo"])
    assert bad.exit_code != 0 and "nope" in bad.output


def test_cli_plan_compares_algorithms(tmp_path, make_kernel):
    path = tmp_path / "t.csv"
    path.write_text("a,b\nx,1\ny,1\nx,2\nx,1\n")
    res = _cli(make_kernel, ["llmsql", "plan", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"original", "stats", "ggr"} and data["ggr"]["distinct_rows"] == 3


def test_gateway_query_route(make_kernel):
    gateway = pytest.importorskip("skyplex.gateway")
    from fastapi.testclient import TestClient

    app = gateway.create_app(make_kernel(), api_key="k", auth=True)
    body = {"sql": "SELECT k, llm('Echo', k) AS e FROM t ORDER BY k", "model": "echo",
            "tables": {"t": [{"k": "b"}, {"k": "a"}]}}
    with TestClient(app) as client:
        res = client.post("/plugins/llmsql/query", json=body, headers={"Authorization": "Bearer k"})
        assert res.status_code == 200, res.text
        assert res.json()["rows"] == [["a", "a"], ["b", "b"]]
        bad = client.post("/plugins/llmsql/query", json={**body, "sql": "SELEC nonsense"},
                          headers={"Authorization": "Bearer k"})
        assert bad.status_code == 400 and "parse" in bad.text
        failing = client.post("/plugins/llmsql/query", headers={"Authorization": "Bearer k"},
                              json={**body, "model": "echo_bad", "tables": {"t": [{"k": "BAD"}]}})
        assert failing.status_code == 422 and "BAD" in failing.text
