"""``POST /plugins/depyf/decompile`` on the kernel's gateway."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"depyf"})
    kernel = Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm).startup()
    try:
        with TestClient(create_app(kernel, api_key="k", auth=True)) as c:
            c.headers["Authorization"] = "Bearer k"
            yield c
    finally:
        kernel.close()


def test_decompile_route_returns_verified_source(client):
    source = "def f(a, b):\n    if a > b:\n        return a\n    return [x for x in range(b)]\n"
    res = client.post("/plugins/depyf/decompile", json={"source": source, "function": "f"})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["metadata"]["verified"] is True
    namespace: dict = {}
    exec(body["artifacts"][0]["content"], namespace)
    assert namespace["f"](3, 1) == 3 and namespace["f"](1, 3) == [0, 1, 2]


def test_posted_source_is_never_run(client, tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef f():\n    return 1\n"
    res = client.post("/plugins/depyf/decompile", json={"source": source, "function": "f"})
    assert res.status_code == 200 and not marker.exists()


@pytest.mark.parametrize("body, field", [
    ({"source": "def f(:\n", "function": "f"}, "source"),
    ({"source": "x = 1\n", "function": "f"}, "function"),
    ({"source": "x = 1\n"}, "function"),
])
def test_bad_requests_are_400_naming_the_field(client, body, field):
    res = client.post("/plugins/depyf/decompile", json=body)
    assert res.status_code == 400, res.text
    assert field in res.text
