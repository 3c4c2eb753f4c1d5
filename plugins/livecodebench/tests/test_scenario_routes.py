"""``/execution/grade``, ``/test-output/grade`` and ``/repair/prompt`` through the gateway; bad bodies are 4xx."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
H = {"Authorization": "Bearer k"}
URL = "/plugins/livecodebench"


@pytest.fixture
def client(lcb_kernel):
    from fastapi.testclient import TestClient
    from skyplex import gateway

    with TestClient(gateway.create_app(lcb_kernel, api_key="k", auth=True)) as c:
        yield c


def record(problems_path, qid):
    return next(json.loads(line) for line in problems_path.read_text().splitlines() if f'"{qid}"' in line[:40])


@pytest.mark.usefixtures("sandbox_ok")
def test_execution_grade(client):
    body = {"code": "def f(x):\n    return [x] * 2\n", "input": "f(x = 'a')"}
    r = client.post(URL + "/execution/grade", json={**body, "answer": "[ANSWER]\nassert f(x = 'a') == ['a', 'a']\n[/ANSWER]"},
                    headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "AC"
    r = client.post(URL + "/execution/grade", json={**body, "answer": "[ANSWER]['a'][/ANSWER]"}, headers=H)
    assert r.json()["status"] == "WA"
    r = client.post(URL + "/execution/grade", json={**body, "answer": "[ANSWER]f(x = 'a')[/ANSWER]"}, headers=H)
    assert r.json()["status"] == "NO_ANSWER"


def test_test_output_grade(client, problems_path):
    rec = record(problems_path, "2756")   # buyChoco(prices = [1, 2, 2], money = 3) == 0
    r = client.post(URL + "/test-output/grade", json={"problem": rec, "answer": "```python\nassert buyChoco() == 0\n```"},
                    headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "AC" and r.json()["call"] == "buyChoco(prices = [1, 2, 2], money = 3)"
    r = client.post(URL + "/test-output/grade", json={"problem": rec, "test_index": 1, "answer": "assert x == 0"},
                    headers=H)
    assert r.json()["status"] == "WA"


@pytest.mark.usefixtures("sandbox_ok")
def test_repair_prompt(client, problems_path):
    rec = record(problems_path, "1873_A")
    r = client.post(URL + "/repair/prompt", json={"problem": rec, "code": "print('NO')"}, headers=H)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["verdict"]["status"] == "WA" and data["feedback"].startswith("Wrong Answer")
    assert [m["role"] for m in data["messages"]] == ["system", "user"] and "print('NO')" in data["messages"][1]["content"]


@pytest.mark.parametrize("path,body,needle", [
    ("/execution/grade", {"code": "x", "input": "1 +", "answer": "1"}, "call expression"),
    ("/execution/grade", {"code": "x", "input": "f()"}, "answer"),
    ("/test-output/grade", {"problem": "STDIN", "answer": "assert f() == 1"}, "functional problem"),
    ("/test-output/grade", {"problem": "FUNC", "test_index": 9, "answer": "assert f() == 1"}, "test_index"),
    ("/repair/prompt", {"problem": {"question_id": "x"}, "code": "print(1)"}, "lacks"),
    ("/repair/prompt", {"problem": "STDIN", "code": "print(1)", "cpu_s": 0}, "cpu_s"),
])
def test_bad_bodies_are_4xx(client, problems_path, path, body, needle):
    body = {k: (record(problems_path, "1873_A") if v == "STDIN" else record(problems_path, "2756") if v == "FUNC" else v)
            for k, v in body.items()}
    r = client.post(URL + path, json=body, headers=H)
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.text
