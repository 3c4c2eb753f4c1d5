"""Several models served from one process through one multiplexer: the policy, the settings, and the
gateway's OpenAI surface reaching each deployment by name (fake backends, then the real SmolLM2)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import GenerationParams
from skyplex.testing import FakeModelBackend
from skyplex_muxserve.multiplex import SETTINGS_KEY, Multiplexer, parse_serving


class Gated(FakeModelBackend):
    """A fake backend that records each batch's model and can hold the worker until released."""

    def __init__(self, tag: str, log: list[str], gate: threading.Event | None = None) -> None:
        super().__init__(rule=lambda p: f"{tag}:{p}", model=f"fake-{tag}")
        self.tag, self.log, self.gate = tag, log, gate

    def generate(self, prompts, params=None):
        if self.gate is not None:
            self.gate.wait(30)
        self.log.append(self.tag)
        return super().generate(prompts, params)


def _burst(policy: str) -> list[str]:
    """40 popular requests queued ahead of 4 rare ones while the worker is held; the batch order."""
    log: list[str] = []
    gate = threading.Event()
    hold = Gated("hold", log, gate)
    mux = Multiplexer({"hold": hold, "popular": Gated("popular", log), "rare": Gated("rare", log)},
                      {"hold": 1.0, "popular": 9.0, "rare": 1.0}, policy, max_batch=4, token_budget=16)
    try:
        params = GenerationParams(max_tokens=1)
        first = mux.submit("hold", ["x"], params)
        while not mux.batches["hold"]:  # the worker has taken the held call
            threading.Event().wait(0.001)
        futs = [mux.submit("popular", [f"p{i}"], params) for i in range(40)]
        futs += [mux.submit("rare", [f"r{i}"], params) for i in range(4)]
        gate.set()
        first.result(30)
        outs = [f.result(30)[0].text for f in futs]
        assert outs == [f"popular:p{i}" for i in range(40)] + [f"rare:r{i}" for i in range(4)]
        return log[1:]
    finally:
        gate.set()
        mux.close()


def test_fcfs_serves_the_rare_model_after_the_whole_backlog():
    order = _burst("fcfs")
    assert order.index("rare") == 10  # ten batches of four popular requests first


def test_adbs_gives_the_rare_model_a_turn_within_its_share():
    order = _burst("adbs")
    assert order.index("rare") <= 9
    assert order.count("popular") >= 10 and order.count("rare") >= 1


@settings(max_examples=25, deadline=None)
@given(plan=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 3), st.integers(1, 3)),
                     min_size=1, max_size=25),
       policy=st.sampled_from(["adbs", "fcfs"]), max_batch=st.integers(1, 5))
def test_every_request_gets_its_own_completions_in_order(plan, policy, max_batch):
    log: list[str] = []
    backends = {m: Gated(m, log) for m in "abc"}
    mux = Multiplexer(backends, {"a": 5.0, "b": 1.0, "c": 0.5}, policy, max_batch=max_batch)
    try:
        futs = []
        for i, (model, n, max_tokens) in enumerate(plan):
            prompts = [f"q{i}.{k}" for k in range(n)]
            futs.append((model, prompts, mux.submit(model, prompts, GenerationParams(max_tokens=max_tokens))))
        for model, prompts, fut in futs:
            assert [c.text for c in fut.result(30)] == [f"{model}:{p}" for p in prompts]
        # a generate call holds prompts of one model with one set of parameters, at most max_batch requests
        for model, b in backends.items():
            for prompts, params in b.calls:
                owners = {int(p[1:].split(".")[0]) for p in prompts}
                assert {plan[i][0] for i in owners} == {model}
                assert {plan[i][2] for i in owners} == {params.max_tokens}
                assert len(owners) <= max_batch
    finally:
        mux.close()


def test_a_failing_backend_fails_only_its_requests_and_close_fails_queued_ones():
    class Broken(FakeModelBackend):
        def generate(self, prompts, params=None):
            raise RuntimeError("device lost")

    log: list[str] = []
    gate = threading.Event()
    mux = Multiplexer({"ok": Gated("ok", log, gate), "bad": Broken()}, {"ok": 1.0, "bad": 1.0})
    try:
        held = mux.submit("ok", ["a"], GenerationParams())
        while not mux.batches["ok"]:
            threading.Event().wait(0.001)
        bad = mux.submit("bad", ["b"], GenerationParams())
        gate.set()
        assert held.result(30)[0].text == "ok:a"
        with pytest.raises(RuntimeError, match="device lost"):
            bad.result(30)
        with pytest.raises(InvalidInputError, match="not served"):
            mux.submit("ghost", ["x"], GenerationParams())
    finally:
        mux.close()
    with pytest.raises(InvalidInputError, match="closed"):
        mux.submit("ok", ["x"], GenerationParams())


@pytest.mark.parametrize("raw,says", [
    ([], "must be a mapping"),
    ({"models": [{"rate": 1}]}, "models[0] needs a 'name'"),
    ({"models": [{"name": "a", "rate": 0}]}, "models[0] ('a'): rate must be a number > 0"),
    ({"models": [{"name": "a"}, {"name": "a"}]}, "model name 'a' is configured twice"),
    ({"models": [{"name": "a", "max_tokens": 0}]}, "max_tokens must be an integer >= 1"),
    ({"models": [{"name": "a", "weight": 2}]}, "unknown key(s) ['weight']"),
    ({"models": [{"name": "a"}], "policy": "lifo"}, "policy must be one of"),
    ({"models": [{"name": "a"}], "max_batch": 0}, "max_batch must be an integer >= 1"),
    ({"models": [{"name": "a", "options": [1]}]}, "options must be a mapping"),
    ({"models": [{"name": "a", "options": {1: 2, "x": 3}}]}, "options must be a mapping of backend option names"),
])
def test_bad_serving_settings_name_the_entry(raw, says):
    with pytest.raises(InvalidInputError) as err:
        parse_serving(raw)
    assert says in err.value.message


_scalars = st.none() | st.booleans() | st.integers(-3, 300) | st.floats(-2, 5) | st.just(float("nan")) | st.text(max_size=6)
_keys = st.sampled_from(["name", "rate", "backend", "options", "max_tokens", "models", "policy", "max_batch", "x"])
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    _keys | st.integers(0, 2), inner, max_size=5), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(raw=_values | st.dictionaries(st.sampled_from(["models", "policy", "max_batch"]), _values, max_size=3))
def test_any_serving_setting_is_accepted_whole_or_refused_by_name(raw):
    """Fuzzed settings: either every deployment comes back valid, or one InvalidInputError naming where."""
    try:
        cfg = parse_serving(raw)
    except InvalidInputError as exc:
        assert exc.message.startswith(f"plugins.{SETTINGS_KEY}")
        return
    names = [d.name for d in cfg.deployments]
    assert len(names) == len(set(names)) and all(n.strip() for n in names)
    assert all(d.rate > 0 and (d.max_tokens is None or d.max_tokens >= 1) for d in cfg.deployments)
    assert cfg.policy in ("adbs", "fcfs") and cfg.max_batch >= 1


# --- through the gateway -----------------------------------------------------------------------------
class _FakeModels:
    """A test plugin registering two fake backends the deployments can name."""

    from skyplex import hookimpl

    @staticmethod
    @hookimpl
    def skyplex_register_models(register):
        register("fake-a", lambda **kw: FakeModelBackend(rule=lambda p: f"A:{p.split()[-1]}", model="fa"))
        register("fake-b", lambda **kw: FakeModelBackend(rule=lambda p: f"B:{p.split()[-1]}", model="fb"))


def _gateway(tmp_path, serving: dict, models: dict | None = None, extra: bool = True):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    builtins = not extra
    pm = make_plugin_manager(builtins=builtins, entrypoints=True, allowlist={"muxserve"},
                             extra=[("fakes", _FakeModels)] if extra else None)
    kernel = Kernel(settings=Settings(data_dir=tmp_path / "data", plugins={SETTINGS_KEY: serving},
                                      models=models or {}), pm=pm, strict=True).startup()
    return kernel, TestClient(create_app(kernel, api_key="k", auth=True))


def test_gateway_routes_each_name_to_its_deployment_through_one_multiplexer(tmp_path):
    from skyplex_muxserve.multiplex import serving_for

    serving = {"policy": "adbs", "models": [{"name": "chat", "backend": "fake-a", "rate": 3},
                                            {"name": "brief", "backend": "fake-b", "rate": 1, "max_tokens": 4}]}
    kernel, client = _gateway(tmp_path, serving)
    h = {"Authorization": "Bearer k"}
    try:
        with client:
            listed = {m["id"] for m in client.get("/v1/models", headers=h).json()["data"]}
            assert {"chat", "brief"} <= listed

            def ask(model: str, text: str):
                return client.post("/v1/chat/completions", headers=h, json={
                    "model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 8})

            with ThreadPoolExecutor(6) as pool:
                jobs = [pool.submit(ask, "chat" if i % 3 else "brief", f"hello {i}") for i in range(12)]
                for i, job in enumerate(jobs):
                    res = job.result()
                    assert res.status_code == 200, res.text
                    who = "A" if i % 3 else "B"
                    assert res.json()["choices"][0]["message"]["content"] == f"{who}:{i}"
                    assert res.json()["model"] == ("chat" if i % 3 else "brief")
            mux = serving_for(kernel).multiplexer()
            assert mux.batches["chat"] >= 1 and mux.batches["brief"] >= 1
            # brief's deployment caps max_tokens at 4
            fb = kernel.models.get("fake-b")
            assert all(params.max_tokens == 4 for _, params in fb.calls)
            card = client.get("/v1/models/brief", headers=h)
            assert card.status_code == 200
            missing = ask("nobody", "hi")
            assert missing.status_code == 404 and "nobody" in missing.text
    finally:
        kernel.close()


def test_a_bad_serving_setting_stops_the_kernel_with_the_entry_named(tmp_path):
    from skyplex.errors import SkyplexError

    with pytest.raises(SkyplexError) as err:
        _gateway(tmp_path, {"models": [{"name": "x", "rate": -2}]})
    assert "rate must be a number > 0" in str(err.value)


def _documented_serving() -> tuple[dict, dict]:
    """The settings YAML and the curl body of docs/plugins/muxserve.md's section on serving."""
    import json
    import re
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[3] / "docs" / "plugins" / "muxserve.md").read_text()
    section = doc[doc.index("## Several models from one process"):]
    settings_yaml = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    body = re.search(r"-d '(\{.*\})'", section).group(1)
    return yaml.safe_load(settings_yaml), json.loads(body)


def test_documented_serving_settings_parse():
    raw, body = _documented_serving()
    cfg = parse_serving(raw["plugins"][SETTINGS_KEY])
    assert [d.name for d in cfg.deployments] == ["smol-chat", "smol-brief", "smol-small"]
    assert body["model"] in {d.name for d in cfg.deployments}


@pytest.mark.slow
def test_real_smollm2_deployments_answer_by_name_through_the_gateway(tmp_path, skyplex_model_cache_dir,
                                                                    skyplex_local_backend):
    """The documented settings and curl, on the real SmolLM2. Two names share the kernel's instance
    (one copy of the weights); smol-small has its own with another configuration. Greedy answers equal
    the plain local backend's for the same ask."""
    from skyplex_muxserve.multiplex import serving_for

    cache = str(skyplex_model_cache_dir)
    raw, body = _documented_serving()
    serving = raw["plugins"][SETTINGS_KEY]
    for d in serving["models"]:  # where this machine keeps the converted weights
        if "options" in d:
            d["options"] = {**d["options"], "data_dir": cache}
    kernel, client = _gateway(tmp_path, serving, models={"local": {"data_dir": cache}}, extra=False)
    h = {"Authorization": "Bearer k"}
    try:
        with client:
            def ask(model: str):
                return client.post("/v1/completions", headers=h, json={**body, "model": model})

            names = ["smol-chat", "smol-brief", "smol-small"]
            with ThreadPoolExecutor(3) as pool:
                outs = dict(zip(names, pool.map(ask, names)))
            for name, res in outs.items():
                assert res.status_code == 200, (name, res.text)
            want = skyplex_local_backend.generate([body["prompt"]], GenerationParams(max_tokens=body["max_tokens"],
                                                                                      temperature=0.0))[0]
            assert outs["smol-chat"].json()["choices"][0]["text"] == want.text
            assert outs["smol-small"].json()["choices"][0]["text"] == want.text
            assert outs["smol-brief"].json()["usage"]["completion_tokens"] <= 3  # its deployment's cap
            state = serving_for(kernel)
            chat, brief, small = (state.backend_of(n) for n in names)
            assert chat is brief and small is not chat
            info = client.get("/v1/models/smol-chat", headers=h).json()
            assert info["id"] == "smol-chat"
    finally:
        kernel.close()
