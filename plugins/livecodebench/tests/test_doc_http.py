"""Every curl command in the LiveCodeBench guide runs as written (against the gateway in-process)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi")
DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "livecodebench.md"
GRADED = Path(__file__).resolve().parent / "data" / "o1_mini_graded.json"


def curl_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    joined = [b.replace("\\\n", " ") for b in blocks]
    return [line.strip() for b in joined for line in b.splitlines() if line.strip().startswith("curl ")]


def test_guide_shows_curl_commands():
    assert len(curl_commands()) >= 3


@pytest.mark.usefixtures("sandbox_ok")
@pytest.mark.parametrize("command", curl_commands())
def test_curl_commands_run_as_written(lcb_kernel, command):
    from fastapi.testclient import TestClient
    from skyplex import gateway

    args = shlex.split(command)[1:]
    method, body, headers, url = "GET", None, {}, None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-X":
            method, i = args[i + 1], i + 2
        elif a == "-H":
            k, v = args[i + 1].split(":", 1)
            headers[k.strip()] = v.strip()
            i += 2
        elif a == "-d":
            body, i = args[i + 1], i + 2
        elif a.startswith("-"):
            i += 1
        else:
            url, i = a, i + 1
    parts = urlsplit("http://" + url)
    with TestClient(gateway.create_app(lcb_kernel, api_key="k", auth=False)) as client:
        if "/leaderboard" in parts.path:   # the leaderboard needs a stored run first
            client.post("/plugins/livecodebench/runs", json={"name": "O1-Mini", "records": json.loads(GRADED.read_text())})
        r = client.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers,
                           content=body)
    assert r.status_code == 200, (command, r.text)
    data = r.json()
    if "/execution/grade" in parts.path:
        assert data["status"] == "AC"
    if "/leaderboard" in parts.path:
        assert data["rows"][0]["run"] == "O1-Mini" and "after_cutoff" in data["rows"][0]
