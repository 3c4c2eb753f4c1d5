"""`POST /plugins/llmsql/query` through the gateway: the documented query, and bad input of every kind.

The rule for bad input: one message naming the input and what to do, HTTP 4xx, never a 500 or an
``unexpected`` error. A table of known cases, then hypothesis over query text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")

AUTH = {"Authorization": "Bearer k"}
ROWS = {"t": [{"k": "b", "n": 1}, {"k": "a", "n": 2}]}


@pytest.fixture
def client(make_kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    with TestClient(create_app(make_kernel(), api_key="k", auth=True), raise_server_exceptions=False) as c:
        yield c


def _body(**kw):
    return {"sql": "SELECT k, llm('Echo', k) AS e FROM t", "model": "echo", "tables": ROWS, **kw}


BAD_BODIES = [
    ("unterminated quote", _body(sql="SELECT '"), 400, "quote"),
    ("unterminated identifier", _body(sql='SELECT "k FROM t'), 400, "quotes"),
    ("empty sql", _body(sql=""), 400, "empty"),
    ("blank sql", _body(sql="   \n"), 400, "empty"),
    ("two statements", _body(sql="SELECT 1; SELECT 2"), 400, "one SQL statement"),
    ("garbage", _body(sql="SELEC nonsense"), 400, "parse"),
    ("unknown column", _body(sql="SELECT llm('q', nope) FROM t"), 400, "nope"),
    ("unknown table", _body(sql="SELECT llm('q', k) FROM missing"), 400, "missing"),
    ("failed cast", _body(sql="SELECT CAST(k AS INTEGER) FROM t"), 400, "convert"),
    ("template not a literal", _body(sql="SELECT llm(k, k) FROM t"), 400, "literal"),
    ("llm with no template", _body(sql="SELECT llm() FROM t"), 400, "llm"),
    ("placeholder naming nothing", _body(sql="SELECT llm('say {x}', k) FROM t"), 400, "{x}"),
    ("blob argument", _body(sql="SELECT llm('q', k::BLOB) FROM t"), 400, "BLOB"),
    ("server file read", _body(sql="SELECT * FROM read_csv('/etc/passwd')"), 400, "allow"),
    ("server file write", _body(sql="COPY (SELECT 1) TO '/tmp/skyplex-llmsql-leak.csv'"), 400, "allow"),
    ("turning file access back on", _body(sql="SET enable_external_access = true"), 400, "locked"),
    ("deep nesting", _body(sql="SELECT " + "(" * 3000 + "1" + ")" * 3000), 400, "nested"),
    ("nul byte", _body(sql="SELECT llm('q\x00', k) FROM t"), None, None),
    ("sql not text", _body(sql=5), 400, "sql"),
    ("no sql", {"model": "echo"}, 400, "sql"),
    ("empty table", _body(tables={"t": []}), 400, "no rows"),
    ("rows not objects", _body(tables={"t": [1, 2]}), 400, "tables"),
    ("table name not an identifier", _body(tables={"bad name": [{"k": 1}]}), 400, "identifier"),
    ("unknown model", _body(model="nope"), 404, "nope"),
    ("zero tokens", _body(max_tokens=0), 400, "max_tokens"),
    ("unknown algorithm", _body(algorithm="magic"), 400, "algorithm"),
    ("unknown on_error", _body(on_error="ignore"), 400, "on_error"),
    ("ophr on too many cells", _body(algorithm="ophr", tables={"t": [{"k": str(i)} for i in range(200)]}),
     400, "OPHR"),
]


@pytest.mark.parametrize("name, body, status, says", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_route_bad_input_is_a_4xx_naming_the_problem(client, name, body, status, says):
    res = client.post("/plugins/llmsql/query", json=body, headers=AUTH)
    if status is None:  # either answer is fine, but never a server error
        assert res.status_code < 500, res.text
        return
    assert res.status_code == status, res.text
    message = res.json()["error"]["message"]
    assert says.lower() in message.lower() and "\n" not in message and "Traceback" not in message, message


def test_route_body_that_is_not_json(client):
    res = client.post("/plugins/llmsql/query", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert 400 <= res.status_code < 500, res.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(["SELECT", "llm(", "'q'", "'", '"', ",", "k", "n", ")", "(", "FROM", "t", "WHERE",
                              "=", "GROUP BY", "{k}", "{0}", "{z}", "::INT", "NULL", ";", "--", "/*", "*"]),
             max_size=14).map(" ".join),
))
def test_route_never_answers_any_query_text_with_a_500(client, sql):
    res = client.post("/plugins/llmsql/query", json=_body(sql=sql), headers=AUTH)
    assert res.status_code in (200, 400, 422), (sql, res.status_code, res.text)
    if res.status_code != 200:
        message = res.json()["error"]["message"]
        assert "\n" not in message and not re.search(r"unexpected \w+(Error|Exception)", message), (sql, message)


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


@pytest.mark.slow
def test_gateway_query_as_curled_in_the_docs(tmp_path, skyplex_model_cache_dir):
    """The curl example of docs/plugins/llmsql.md, its body as written, against the real local model."""
    import re

    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel

    doc = (Path(__file__).resolve().parents[3] / "docs" / "plugins" / "llmsql.md").read_text()
    block = re.search(r"\$ curl -s localhost:8000(/plugins/llmsql/query) .*?<<'EOF'\n(.*?)\nEOF", doc, flags=re.S)
    assert block, "the docs lost their curl example"
    path, body = block.group(1), json.loads(block.group(2))
    settings = Settings(data_dir=tmp_path / "data",
                        models={"local": {"data_dir": str(skyplex_model_cache_dir), "threads": 2}})
    kernel = Kernel(settings=settings).startup()
    try:
        with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
            res = client.post(path, json=body, headers={"Authorization": "Bearer k"})
    finally:
        kernel.close()
    assert res.status_code == 200, res.text
    rows = res.json()["rows"]
    assert [r[0] for r in rows] == [t["name"] for t in body["tables"]["beer"]]
    assert all(r[1].strip().split()[0].strip(",.").lower() in ("yes", "no") for r in rows), rows
