"""``/plugins/livecodebench/grade`` and ``/score`` through the gateway; bad bodies are 4xx naming the field."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
H = {"Authorization": "Bearer k"}


@pytest.fixture
def client(lcb_kernel):
    from fastapi.testclient import TestClient
    from skyplex import gateway

    with TestClient(gateway.create_app(lcb_kernel, api_key="k", auth=True)) as c:
        yield c


@pytest.fixture
def record(problems_path):
    return json.loads(problems_path.read_text().splitlines()[0])  # 1873_A, a stdin problem


@pytest.mark.usefixtures("sandbox_ok")
def test_grade_answer_and_code(client, record, official):
    answer = "Here:\n```python\n" + official["1873_A"]["code_list"][0] + "\n```"
    r = client.post("/plugins/livecodebench/grade", json={"problem": record, "answer": answer}, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "AC" and r.json()["passed"] is True
    r = client.post("/plugins/livecodebench/grade", json={"problem": record, "code": "print('YES')"}, headers=H)
    assert r.json()["status"] == "WA" and r.json()["first_failure"] == 0


def test_score(client):
    r = client.post("/plugins/livecodebench/score", json={"results": {"a": [True, False], "b": [False, False]},
                                                          "k": [1, 2]}, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["pass_at"]["pass@1"]["value"] == pytest.approx(0.25)
    assert r.json()["pass_at"]["pass@2"]["value"] == pytest.approx(0.5)


@pytest.mark.parametrize("path,body,needle", [
    ("/score", {"results": {}}, "results"),
    ("/score", {"results": {"a": [True]}, "k": [3]}, "pass@3"),
    ("/grade", {"problem": {"question_id": "x"}, "code": "print(1)"}, "lacks"),
    ("/grade", {"problem": {"question_id": "x", "contest_date": "2024-01-01", "public_test_cases": []},
                "code": "print(1)"}, "no public tests"),
    ("/grade", {"problem": {}, "code": "a", "answer": "b"}, "exactly one"),
    ("/grade", {"problem": {}, "code": "a", "cpu_s": 0}, "cpu_s"),
])
def test_bad_bodies_are_4xx(client, path, body, needle):
    r = client.post("/plugins/livecodebench" + path, json=body, headers=H)
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.text
