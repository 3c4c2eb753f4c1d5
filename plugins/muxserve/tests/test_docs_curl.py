"""docs/plugins/muxserve.md run as written: every ``curl`` on the page, with the real curl binary,
against the real ``skyplex serve`` in its own process. Only the host/port (the gateway listens on a free
loopback port) and the value of ``$SKYPLEX_API_KEY`` differ from the page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "muxserve.md"
KEY = "muxserve-doc-test-key-0123456789abcdef"


def doc_curls() -> list[str]:
    """Every ``curl`` command in the page's code blocks, continuation lines joined."""
    out = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", DOC.read_text(), re.M | re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].removeprefix("$ ")
            if line.startswith("curl "):
                cmd = [line]
                while cmd[-1].endswith("\\") or "".join(cmd).count("'") % 2:  # still open
                    i += 1
                    cmd.append(lines[i])
                out.append("\n".join(cmd))
            i += 1
    return out


def _documented_serving_yaml() -> str:
    section = DOC.read_text().split("## Several models from one process", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def _run_curl(cmd: str, url: str) -> tuple[str, dict]:
    """Run ``cmd`` as written by bash, the port swapped for the gateway's; (HTTP status, JSON body)."""
    shell = cmd.replace("localhost:8000", url.removeprefix("http://"))
    assert shell != cmd, cmd
    done = subprocess.run(["bash", "-c", shell + " -w '\\n%{http_code}'"], capture_output=True, text=True,
                          env={**os.environ, "SKYPLEX_API_KEY": KEY}, timeout=300)
    body, _, code = done.stdout.rpartition("\n")
    assert done.returncode == 0, (cmd, done.stderr)
    return code, json.loads(body)


def _serve(tmp_path, config: str | None):
    from skyplex.testing import gateway_process
    from skyplex.testing.serve import skyplex_command

    pytest.importorskip("skyplex.gateway.server")
    pytest.importorskip("httpx")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    if not Path(skyplex_command()).exists():
        pytest.skip("the skyplex console script is not installed")
    env = {"SKYPLEX_DATA_DIR": str(tmp_path / "data"), "SKYPLEX_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    if config is not None:
        (tmp_path / "skyplex.yaml").write_text(config)
        env["SKYPLEX_CONFIG"] = str(tmp_path / "skyplex.yaml")
    return gateway_process(env=env, log_path=tmp_path / "gateway.log")


def test_the_page_shows_both_curls():
    curls = doc_curls()
    assert len(curls) == 2, curls
    assert "/plugins/muxserve/place" in curls[0] and "/v1/completions" in curls[1]
    assert all("$SKYPLEX_API_KEY" in c for c in curls)


def test_documented_place_curl_works_as_written(tmp_path):
    place = next(c for c in doc_curls() if "/plugins/muxserve/place" in c)
    with _serve(tmp_path, None) as gateway:
        code, data = _run_curl(place, gateway.url)
        assert code == "200", data
        assert data["gpus"] == 4 and data["estimated_served_rate"] > 0
        assert sorted(x["name"] for m in data["meshes"] for x in m["llms"]) == ["a", "b"]
        assert sum(m["ngpus"] for m in data["meshes"]) == 4 and data["mode"] == "flexsm"
        assert all(1 <= x["decode_sm"] <= 100 for m in data["meshes"] for x in m["llms"])
        # without the key the same request is refused: the header on the page is needed
        code, _ = _run_curl(place.replace("$SKYPLEX_API_KEY", "wrong"), gateway.url)
        assert code == "401"


@pytest.mark.slow
def test_documented_completions_curl_works_as_written(tmp_path, skyplex_model_cache_dir):
    """The page's settings file as ``$SKYPLEX_CONFIG`` of ``skyplex serve`` and its curl, on the real
    SmolLM2. The file gains only where this machine keeps the converted weights (``data_dir`` of the
    local backend, and of the deployment that has its own options)."""
    import yaml

    config = yaml.safe_load(_documented_serving_yaml())
    cache = str(skyplex_model_cache_dir)
    for d in config["plugins"]["muxserve-serving"]["models"]:
        if "options" in d:
            d["options"] = {**d["options"], "data_dir": cache}
    config["models"] = {"local": {"data_dir": cache}}
    completions = next(c for c in doc_curls() if "/v1/completions" in c)
    asked = json.loads(re.search(r"-d '(\{.*\})'", completions).group(1))
    with _serve(tmp_path, yaml.safe_dump(config)) as gateway:
        code, data = _run_curl(completions, gateway.url)
        assert code == "200", (data, gateway.log_text()[-2000:])
        assert data["object"] == "text_completion" and data["model"] == asked["model"]
        (choice,) = data["choices"]
        assert isinstance(choice["text"], str) and choice["text"].strip()
        assert 1 <= data["usage"]["completion_tokens"] <= 3  # smol-brief's deployment caps max_tokens at 3
