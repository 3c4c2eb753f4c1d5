"""The gateway routes under ``/plugins/voting``: every curl in docs/plugins/voting.md run as written,
the cost-aware K over HTTP, and bad input answered 4xx (never a 500)."""

from __future__ import annotations

import numpy as np
import pytest

AUTH = {"Authorization": "Bearer k"}


@pytest.fixture
def client(kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    with TestClient(create_app(kernel, api_key="k", auth=True)) as c:
        yield c


def test_documented_curls(client, doc_curls):
    assert len(doc_curls) == 3
    for path, body in doc_curls:
        res = client.post(path, json=body, headers=AUTH)
        assert res.status_code == 200, res.text
    curve = client.post(doc_curls[0][0], json=doc_curls[0][1], headers=AUTH).json()
    assert len(curve["curve"]) == 25 and 1 <= curve["k_opt"] <= 25
    vote = client.post(doc_curls[1][0], json=doc_curls[1][1], headers=AUTH).json()
    assert vote["answer"] == "B" and vote["abstentions"] == 1


def test_documented_cost_curl_picks_the_best_net_value(client, doc_curls):
    (path, body), = [(p, b) for p, b in doc_curls if "value_per_correct" in b]
    out = client.post(path, json=body, headers=AUTH).json()
    per_call = (body["prompt_tokens"] * body["input_price"] + body["completion_tokens"] * body["output_price"]) / 1e6
    curve = np.array(out["curve"])
    net = body["value_per_correct"] * curve - per_call * np.arange(1, curve.size + 1)
    assert out["cost"]["cost_per_call"] == pytest.approx(per_call, rel=1e-12)
    assert out["cost"]["k_cost_opt"] == int(np.argmax(net)) + 1
    # without a price the same fit has no cost section
    plain = {k: v for k, v in body.items() if k not in ("input_price", "output_price", "prompt_tokens",
                                                        "completion_tokens", "value_per_correct")}
    assert "cost" not in client.post(path, json=plain, headers=AUTH).json()


@pytest.mark.parametrize("path,body,status", [
    ("/plugins/voting/curve", {"distributions": [[0.5, 0.6, 0.0]]}, 400),
    ("/plugins/voting/curve", {"distributions": [[0.5, 0.5, 0.0]], "kmax": 0}, 400),
    ("/plugins/voting/curve", {"distributions": [[0.5, 0.5, 0.0], [1.0, 0.0]]}, 400),
    ("/plugins/voting/curve", {"distributions": "x"}, 400),  # the gateway answers body-shape errors 400
    ("/plugins/voting/fit", {"counts": [[1, 0, 0], [0, 1, 0]]}, 400),
    ("/plugins/voting/fit", {}, 400),
    ("/plugins/voting/fit", {"samples": [{"answer": "A"}]}, 400),
    ("/plugins/voting/fit", {"counts": [[3, 1, 0], [1, 3, 0]], "input_price": 1.0}, 400),
    ("/plugins/voting/fit", {"counts": [[3, 1, 0], [1, 3, 0]], "input_price": -1.0, "prompt_tokens": 10,
                             "completion_tokens": 1, "value_per_correct": 1.0}, 400),
    ("/plugins/voting/fit", {"counts": [[3, 1, 0], [1, 3, 0]], "input_price": 1.0, "prompt_tokens": 10,
                             "completion_tokens": 1, "value_per_correct": 0.0}, 400),
    ("/plugins/voting/vote", {"answers": ["A"], "weights": [1, 2]}, 400),
    ("/plugins/voting/sample", {"queries": "/nonexistent.jsonl", "out": "x.jsonl", "backend": "cycler"}, 400),
])
def test_bad_input_over_http_is_4xx(client, path, body, status):
    res = client.post(path, json=body, headers=AUTH)
    assert res.status_code == status, res.text
