"""The ``vllm`` backend: a real vLLM CPU server (started once per session) through the conformance kit,
server metrics, process management; and clear errors where vLLM is missing or unreachable."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.errors import InvalidInputError, ModelUnavailableError
from skyplex.interfaces import ChatMessage, GenerationParams
from skyplex.models import vllm_metrics
from skyplex.models.vllm_backend import VLLMBackend, find_vllm_python
from skyplex.testing import ModelBackendConformance

METRICS_TEXT = (Path(__file__).parent / "data" / "vllm-0.32-cpu-metrics.txt").read_text()


def test_registration_starts_and_imports_nothing():
    code = (
        "import sys; from skyplex import Kernel, make_plugin_manager;"
        "k = Kernel(pm=make_plugin_manager(entrypoints=False)); k.models.describe();"
        "print('vllm' in k.models.names(), 'vllm' in sys.modules, 'openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]


def test_missing_vllm_environment_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYPLEX_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    monkeypatch.delenv("SKYPLEX_VLLM_URL", raising=False)
    with pytest.raises(ModelUnavailableError) as info:
        VLLMBackend(data_dir=tmp_path)
    assert "make install-vllm" in info.value.message and "SKYPLEX_VLLM_URL" in info.value.message
    # through the kernel the same sentence is the backend's unavailability reason (the gateway's 503)
    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=make_plugin_manager(entrypoints=False))
    assert "make install-vllm" in kernel.models.unavailable_reason("vllm")
    assert ModelUnavailableError.status_code == 503


def test_unreachable_server_url_is_reported(monkeypatch):
    monkeypatch.delenv("SKYPLEX_VLLM_URL", raising=False)
    with pytest.raises(ModelUnavailableError, match="cannot list the models .*127.0.0.1:9/v1/models.*SKYPLEX_VLLM_URL"):
        VLLMBackend(base_url="http://127.0.0.1:9/v1")


@pytest.mark.parametrize(
    "options, field",
    [({"max_model_len": 0}, "models.vllm.max_model_len"), ({"kv_cache_gb": "4"}, "models.vllm.kv_cache_gb")],
)
def test_bad_options_name_the_setting(tmp_path, options, field):
    with pytest.raises(InvalidInputError) as info:
        VLLMBackend(data_dir=tmp_path, python=sys.executable, **options)
    assert info.value.field == field


def test_server_that_dies_while_starting_shows_its_log(tmp_path, monkeypatch):
    # a python without vllm: the server module cannot be imported, the process exits at once
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    backend = VLLMBackend(data_dir=tmp_path, python=sys.executable, model=str(tmp_path), startup_timeout_s=60)
    with pytest.raises(ModelUnavailableError, match=r"(?s)exited with code 1 while starting.*No module named"):
        backend.ensure_server()
    backend.close()
    assert list((tmp_path / "tmp").iterdir()) == []  # its socket folder went with it


def test_a_server_that_cannot_launch_leaves_no_socket_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    not_executable = tmp_path / "python"
    not_executable.write_text("")  # a file, so it is taken as the interpreter, but the launch itself fails
    backend = VLLMBackend(data_dir=tmp_path, python=str(not_executable), model=str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=r"cannot run the vLLM environment's interpreter .*Permission denied"):
        backend.ensure_server()
    backend.close()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_metrics_parser_reads_a_real_vllm_scrape():
    m = vllm_metrics.server_metrics(METRICS_TEXT, model="smollm2")
    assert (m.running, m.waiting, m.kv_cache_usage) == (0.0, 0.0, 0.0)
    assert m.prefix_cache.queries == 22.0 and m.prefix_cache.hits == 0.0 and m.prefix_cache.prompt_tokens == 22.0
    assert m.as_dict()["prefix_cache_hit_rate"] == 0.0
    # another model's series are left out; the older gauge name is read where the new one is missing
    other = vllm_metrics.server_metrics(METRICS_TEXT, model="another-model")
    assert other.running is None and other.prefix_cache.queries is None
    old = vllm_metrics.server_metrics('vllm:gpu_cache_usage_perc{model_name="m"} 0.25\nvllm:num_requests_waiting 3\n')
    assert old.kv_cache_usage == 0.25 and old.waiting == 3.0
    with pytest.raises(InvalidInputError, match="line 1 of the metrics text"):
        vllm_metrics.server_metrics("<html>not metrics</html>")


def test_llmsql_reads_the_kernel_parser():
    pytest.importorskip("skyplex_llmsql")
    from skyplex_llmsql import vllm_metrics as plugin_metrics

    assert plugin_metrics.prefix_cache_counters is vllm_metrics.prefix_cache_counters


def test_find_vllm_python_honours_the_environment(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("")
    monkeypatch.setenv("SKYPLEX_VLLM_PYTHON", str(fake))
    assert find_vllm_python() == fake
    monkeypatch.setenv("SKYPLEX_VLLM_PYTHON", str(tmp_path / "missing"))
    assert find_vllm_python() is None


# --- against a real vLLM server ----------------------------------------------------------------
@pytest.mark.slow
class TestVLLMServer(ModelBackendConformance):
    @pytest.fixture
    def backend(self, skyplex_vllm_backend):
        return skyplex_vllm_backend


@pytest.mark.slow
def test_greedy_output_matches_the_local_backend(skyplex_vllm_backend, skyplex_local_backend):
    # the same weights in fp32 on both sides: greedy text agrees over a short answer
    msgs = [ChatMessage(role="user", content="What is the capital of France?")]
    params = GenerationParams(max_tokens=8, temperature=0.0)
    (served,) = skyplex_vllm_backend.generate([msgs], params)
    (local,) = skyplex_local_backend.generate([msgs], params)
    assert "Paris" in served.text
    assert served.text == local.text
    assert served.usage.prompt_tokens == local.usage.prompt_tokens
    assert skyplex_vllm_backend.count_tokens("hello world") == skyplex_local_backend.count_tokens("hello world")


@pytest.mark.slow
def test_metrics_count_prefix_cache_hits_of_a_repeated_prompt(skyplex_vllm_backend):
    # longer than one KV block (vLLM's CPU blocks hold 128 tokens): only whole blocks are cached
    prompt = "You are a careful assistant. " * 60 + "Say one word."
    params = GenerationParams(max_tokens=2)
    before = skyplex_vllm_backend.metrics()
    skyplex_vllm_backend.generate([prompt], params)
    skyplex_vllm_backend.generate([prompt], params)
    after = skyplex_vllm_backend.metrics()
    delta = after.prefix_cache.since(before.prefix_cache)
    assert delta.queries >= 2 * skyplex_vllm_backend.count_tokens(prompt) - 2
    assert delta.hits > 0  # the second request found the first one's blocks
    assert after.running == 0 and after.waiting == 0
    info = skyplex_vllm_backend.info()
    assert info.details["managed"] and info.details["metrics"]["prefix_cache_hits"] >= delta.hits


@pytest.mark.slow
def test_attached_backend_uses_the_running_server(skyplex_vllm_backend):
    attached = VLLMBackend(base_url=skyplex_vllm_backend.base_url)
    try:
        assert attached.model == skyplex_vllm_backend.model and not attached.managed
        params = GenerationParams(max_tokens=4)
        assert attached.generate(["1, 2, 3,"], params)[0].text == skyplex_vllm_backend.generate(["1, 2, 3,"], params)[0].text
    finally:
        attached.close()
    assert skyplex_vllm_backend.server.running()  # closing an attached backend leaves the server alone


@pytest.mark.slow
def test_close_stops_the_whole_server_process_group(tmp_path, skyplex_model_cache_dir, skyplex_vllm_backend):
    # a second, short-lived server: close() must leave no process of its group behind
    backend = VLLMBackend(data_dir=skyplex_model_cache_dir, enforce_eager=True, startup_timeout_s=900)
    backend.ensure_server()
    pgid = backend.server.process.pid
    assert backend.generate(["1, 2,"], GenerationParams(max_tokens=2))[0].usage.completion_tokens == 2
    temp_dir = backend.server.temp_dir
    # vLLM's engine sockets and init files live in the server's own folder, not loose in the system's
    assert temp_dir is not None and any(entry.is_socket() for entry in temp_dir.iterdir())
    assert any(entry.name.startswith("vllm_dist_") for entry in temp_dir.iterdir())
    backend.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.5)
    assert not _group_alive(pgid)
    assert not temp_dir.exists()


def _group_alive(pgid: int) -> bool:
    out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
    return any(line.split()[0] == str(pgid) and not line.split()[1].startswith("Z") for line in out.splitlines() if line.strip())


def test_documented_settings_are_backend_options():
    import inspect
    import re

    import yaml

    text = (Path(__file__).resolve().parents[1] / "docs" / "serving-vllm.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    options = yaml.safe_load(block)["models"]["vllm"]
    accepted = inspect.signature(VLLMBackend).parameters
    assert options and all(name in accepted for name in options), sorted(set(options) - set(accepted))
    # the settings file form reaches the backend: the attach URL is used (and found unreachable here)
    settings = Settings(models={"vllm": {**options, "base_url": "http://127.0.0.1:9/v1"}})
    kernel = Kernel(settings=settings, pm=make_plugin_manager(entrypoints=False))
    assert "127.0.0.1:9" in kernel.models.unavailable_reason("vllm")
