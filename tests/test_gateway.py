"""The gateway against tiny in-test plugins of every kind and a deterministic test model backend.

Nothing here loads the real model; tests/test_gateway_local.py does that (marked slow).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
from skyplex.errors import InvalidInputError
from skyplex.interfaces import (
    ActionRecord,
    Allocation,
    Allocator,
    Auditor,
    Commitment,
    DatasetArtifact,
    Evaluator,
    Executor,
    GenerationParams,
    InspectionReport,
    Inspector,
    Proof,
    Report,
    Schedule,
    Scheduler,
    Score,
    Trainer,
    TrainingResult,
    Verdict,
)
from skyplex.testing import FakeModelBackend

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


# --- tiny implementations of every kind --------------------------------------------------------
def echo_or_fail(prompt: str) -> str:
    """The echo backend's rule: ``echo <prompt>``; a prompt starting ``FAIL`` raises, as a broken model would."""
    if prompt.startswith("FAIL"):
        raise ValueError("this prompt always fails")
    return "echo " + prompt


def EchoBackend() -> FakeModelBackend:  # noqa: N802 - registered and built like a backend class
    """skyplex.testing's fake backend with the echo rule (a "token" is a word and its spaces)."""
    return FakeModelBackend(echo_or_fail, model="echo-1")


def batch_sizes(backend: FakeModelBackend) -> list[int]:
    """How many prompts each ``generate`` call of ``backend`` carried."""
    return [len(prompts) for prompts, _params in backend.calls]


class FixedStreamEcho(FakeModelBackend):
    """Streams in 3-character pieces, not token by token: the gateway must not assume token chunks."""

    def __init__(self) -> None:
        super().__init__(echo_or_fail, model="echo-1")

    def stream(self, prompt, params=None):
        text = self.generate([prompt], params)[0].text
        for i in range(0, len(text), 3):
            yield text[i : i + 3]


class CheapAllocator(Allocator):
    def allocate(self, problem):
        gpu = problem.gpu_types[0]
        return Allocation(allocator=self.name, gpus={gpu.name: 1}, cost_per_hour=gpu.price_per_hour, explanation="one")


class ExplodingAllocator(Allocator):
    def allocate(self, problem):
        raise RuntimeError("secret internal detail")


class ReverseScheduler(Scheduler):
    def plan(self, requests, options=None):
        order = [r.id for r in reversed(requests)]
        return Schedule(scheduler=self.name, order=order, batches=[order], metrics={"n": float(len(order))})


class MemoryExecutor(Executor):
    def __init__(self) -> None:
        self.records: dict[str, ActionRecord] = {}

    def _set(self, action_id: str, status: str) -> ActionRecord:
        rec = self.records[action_id].model_copy(update={"status": status, "updated_at": datetime.now(timezone.utc)})
        self.records[action_id] = rec
        return rec

    def propose(self, action):
        now = datetime.now(timezone.utc)
        rid = f"a{len(self.records) + 1}"
        self.records[rid] = ActionRecord(
            id=rid, executor=self.name, action=action, status="proposed", created_at=now, updated_at=now
        )
        return self.records[rid]

    def run(self, action_id):
        if action_id not in self.records:
            from skyplex.errors import NotFoundError

            raise NotFoundError(f"no action {action_id!r}", field="action_id")
        return self._set(action_id, "ran")

    def commit(self, action_id):
        return self._set(action_id, "committed")

    def undo(self, action_id):
        return self._set(action_id, "undone")

    def journal(self, limit=100):
        return list(reversed(self.records.values()))[:limit]


class HashAuditor(Auditor):
    def commit(self, artifact):
        return Commitment(id="c1", kind=artifact.kind, scheme="sha", digest=str(hash(str(artifact.data))))

    def prove(self, claim):
        return Proof(id="p1", claim=claim, scheme="sha", proof_b64="AAAA")

    def verify(self, proof):
        return Verdict(valid=proof.proof_b64 == "AAAA", reason="checked")


class CountingEvaluator(Evaluator):
    def evaluate(self, subjects, suite, *, progress=None):
        n = int(suite.options.get("items", 3))
        delay = float(suite.options.get("delay", 0.0))
        for i in range(n):
            time.sleep(delay)
            if progress:
                progress(i + 1, n, f"item {i + 1}")
        return Report(
            evaluator=self.name,
            suite=suite.name,
            scores=[Score(subject=s.name, metric="count", value=float(n)) for s in subjects],
        )


class NullTrainer(Trainer):
    def build_dataset(self, spec, *, progress=None):
        if progress:
            progress(1, 1, "built")
        return DatasetArtifact(path=spec.output or "/tmp/ds.jsonl", num_examples=2)

    def finetune(self, spec, *, progress=None):
        return TrainingResult(model_path=f"/tmp/{spec.base_model}-ft", metrics={"loss": 0.5})


class WordInspector(Inspector):
    def inspect(self, target):
        return InspectionReport(inspector=self.name, target=target, summary=f"{len(target.ref)} chars")


class TestPlugin:
    """Registers one of each kind, plus routes of its own."""

    @hookimpl
    def skyplex_register_models(self, register):
        register("echo", EchoBackend)
        register("echo3", FixedStreamEcho)

    @hookimpl
    def skyplex_register_allocators(self, register):
        register("cheap", CheapAllocator, description="one GPU of the first type")
        register("exploding", ExplodingAllocator)

    @hookimpl
    def skyplex_register_schedulers(self, register):
        register("reverse", ReverseScheduler)

    @hookimpl
    def skyplex_register_executors(self, register):
        register("memory", MemoryExecutor)

    @hookimpl
    def skyplex_register_auditors(self, register):
        register("hash", HashAuditor)

    @hookimpl
    def skyplex_register_evaluators(self, register):
        register("counting", CountingEvaluator)

    @hookimpl
    def skyplex_register_trainers(self, register):
        register("null", NullTrainer)

    @hookimpl
    def skyplex_register_inspectors(self, register):
        register("words", WordInspector)

    @hookimpl
    def skyplex_register_routes(self, router, kernel):
        @router.get("/hello")
        def hello() -> dict:
            return {"hello": "world", "allocators": kernel.allocators.names()}


class BrokenPlugin:
    """Raises in a registry hook and in its routes hook: both are recorded, neither is fatal."""

    @hookimpl
    def skyplex_register_schedulers(self, register):
        raise RuntimeError("broken plugin cannot register")

    @hookimpl
    def skyplex_register_routes(self, router, kernel):
        @router.get("/half")
        def half() -> dict:
            return {}

        raise RuntimeError("broken routes")


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def kernel(tmp_path):
    pm = make_plugin_manager(entrypoints=False, extra=[("testplug", TestPlugin()), ("broken", BrokenPlugin())])
    k = Kernel(settings=Settings(data_dir=tmp_path / "data", default_model="echo"), pm=pm)
    yield k
    k.close()


@pytest.fixture
def app(kernel):
    from skyplex.gateway import create_app

    return create_app(kernel, api_key=KEY, max_body_bytes=64 * 1024)


@pytest.fixture
def client(app):
    with TestClient(app) as c:  # default: server exceptions would raise here, so 500s prove the catch-all
        c.headers.update(AUTH)
        yield c


# --- basics: health, auth, plugins ---------------------------------------------------------------
def test_healthz_needs_no_auth(app):
    r = TestClient(app).get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers, fragment",
    [
        ({}, "missing API key"),
        ({"Authorization": "Bearer wrong"}, "invalid API key"),
        ({"Authorization": f"Basic {KEY}"}, "malformed"),
        ({"Authorization": "Bearer"}, "missing API key"),  # an empty bearer token is a missing key
    ],
)
def test_auth_refuses_without_the_right_key(app, headers, fragment):
    r = TestClient(app).get("/v1/plugins", headers=headers)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "authentication_error" and fragment in err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_auth_covers_plugin_routes_and_docs_stay_public(app):
    anon = TestClient(app)
    assert anon.get("/plugins/testplug/hello").status_code == 401
    assert anon.get("/openapi.json").status_code == 200
    assert anon.get("/docs").status_code == 200
    assert anon.get("/v1/plugins", headers=AUTH).status_code == 200


def test_no_auth_mode_serves_without_key(kernel):
    from skyplex.gateway import create_app

    c = TestClient(create_app(kernel, api_key=None, auth=False))
    assert c.get("/v1/plugins").status_code == 200
    with pytest.raises(ValueError, match="api_key"):
        create_app(kernel, api_key=None, auth=True)


def test_plugins_lists_plugins_and_load_errors(client):
    body = client.get("/v1/plugins").json()
    by_name = {p["name"]: p for p in body["data"]}
    test = by_name["testplug"]
    assert test["provides"]["allocator"] == ["cheap", "exploding"]
    assert "evaluator" in test["kinds"] and "skyplex_register_routes" in test["hooks"]
    assert by_name["skyplex"]["builtin"] is True  # the built-in plugin (model backends, CLI commands)
    errors = [e for e in body["errors"] if e["plugin"] == "broken"]
    wheres = {e["where"] for e in errors}
    assert {"skyplex_register_schedulers", "skyplex_register_routes"} <= wheres
    assert any("broken plugin cannot register" in e["error"] for e in errors)


# --- plugin routers ---------------------------------------------------------------------------------
def test_plugin_router_is_mounted_under_its_name(client):
    r = client.get("/plugins/testplug/hello")
    assert r.status_code == 200
    assert r.json() == {"hello": "world", "allocators": ["cheap", "exploding"]}


def test_plugin_whose_routes_hook_raises_is_not_mounted(client):
    r = client.get("/plugins/broken/half")
    assert r.status_code == 404
    assert "no route" in r.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200


# --- each kind's routes -----------------------------------------------------------------------------
PROBLEM = {
    "workload": {"requests": [{"input_tokens": 10, "output_tokens": 5, "rate": 1.0}]},
    "gpu_types": [{"name": "L4", "memory_gb": 24, "price_per_hour": 0.7}],
}


def test_listing_routes_for_every_kind(client):
    expected = {
        "allocators": {"cheap", "exploding"},
        "schedulers": {"reverse"},
        "executors": {"memory"},
        "auditors": {"hash"},
        "evaluators": {"counting"},
        "trainers": {"null"},
        "inspectors": {"words"},
    }
    for route, names in expected.items():
        r = client.get(f"/v1/{route}")
        assert r.status_code == 200, route
        assert {e["name"] for e in r.json()["data"]} == names
    cheap = client.get("/v1/allocators/cheap").json()
    assert cheap["plugin"] == "testplug" and cheap["description"] == "one GPU of the first type"
    missing = client.get("/v1/allocators/nope")
    assert missing.status_code == 404 and "cheap" in missing.json()["error"]["message"]


def test_allocate(client):
    r = client.post("/v1/allocators/cheap/allocate", json=PROBLEM)
    assert r.status_code == 200
    assert r.json()["gpus"] == {"L4": 1} and r.json()["allocator"] == "cheap"


def test_unknown_plugin_name_is_404_naming_installed(client):
    r = client.post("/v1/allocators/nope/allocate", json=PROBLEM)
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["param"] == "allocator" and "cheap" in err["message"]


def test_plan(client):
    body = {"requests": [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"}], "options": {"k": 1}}
    r = client.post("/v1/schedulers/reverse/plan", json=body)
    assert r.status_code == 200
    assert r.json()["order"] == ["b", "a"]


def test_executor_lifecycle_and_journal(client):
    r = client.post("/v1/executors/memory/actions", json={"kind": "fs", "payload": {"write": "x"}})
    assert r.status_code == 201
    aid = r.json()["id"]
    for step, status in (("run", "ran"), ("commit", "committed"), ("undo", "undone")):
        r = client.post(f"/v1/executors/memory/actions/{aid}/{step}")
        assert r.status_code == 200 and r.json()["status"] == status
    journal = client.get("/v1/executors/memory/actions", params={"limit": 5}).json()["data"]
    assert [a["id"] for a in journal] == [aid]
    missing = client.post("/v1/executors/memory/actions/zzz/run")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "action_id"


def test_auditor_commit_prove_verify(client):
    c = client.post("/v1/auditors/hash/commit", json={"kind": "dataset", "data": [1, 2]})
    assert c.status_code == 200 and c.json()["scheme"] == "sha"
    p = client.post("/v1/auditors/hash/prove", json={"kind": "training", "commitments": ["c1"]})
    assert p.status_code == 200
    v = client.post("/v1/auditors/hash/verify", json=p.json())
    assert v.status_code == 200 and v.json()["valid"] is True


def test_inspect(client):
    r = client.post("/v1/inspectors/words/inspect", json={"kind": "module", "ref": "os:path"})
    assert r.status_code == 200 and r.json()["summary"] == "7 chars"


def _wait_job(client, job_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_evaluation_run_is_a_job_with_progress_and_result(client):
    body = {"subjects": [{"name": "m1"}, {"name": "m2"}], "suite": {"name": "s", "options": {"items": 4}}}
    r = client.post("/v1/evaluators/counting/runs", json=body)
    assert r.status_code == 202
    job = _wait_job(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["kind"] == "evaluation" and job["done"] == 4 and job["total"] == 4 and job["progress"] == 1.0
    assert [s["subject"] for s in job["result"]["scores"]] == ["m1", "m2"]
    assert client.post("/v1/evaluators/nope/runs", json=body).status_code == 404


def test_trainer_jobs(client):
    d = client.post("/v1/trainers/null/datasets", json={"source": "docs/", "output": "/tmp/x.jsonl"})
    f = client.post("/v1/trainers/null/finetunes", json={"dataset": "/tmp/x.jsonl", "base_model": "smol"})
    assert d.status_code == 202 and f.status_code == 202
    assert _wait_job(client, d.json()["id"])["result"]["num_examples"] == 2
    assert _wait_job(client, f.json()["id"])["result"]["model_path"] == "/tmp/smol-ft"


# --- jobs routes ------------------------------------------------------------------------------------
def test_jobs_list_get_cancel(client, kernel):
    started = threading.Event()

    def slow(ctx, *, n):
        started.set()
        for i in range(n):
            ctx.check_cancelled()
            time.sleep(0.05)
        return {"n": n}

    job = kernel.jobs.submit(slow, name="slow", kind="test", params={"n": 400})
    assert started.wait(10)
    listed = client.get("/v1/jobs", params={"kind": "test"}).json()["data"]
    assert [j["id"] for j in listed] == [job.id]
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 400
    r = client.post(f"/v1/jobs/{job.id}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    assert _wait_job(client, job.id)["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job.id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
    missing = client.get("/v1/jobs/does-not-exist")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "job_id"


def test_job_events_stream_snapshots_until_final(client):
    body = {"subjects": [{"name": "m"}], "suite": {"name": "s", "options": {"items": 5, "delay": 0.25}}}
    job_id = client.post("/v1/evaluators/counting/runs", json=body).json()["id"]
    events = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", params={"interval": 0.05}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event == "job":
                events.append(json.loads(line[len("data: ") :]))
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "succeeded"
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and len(set(progress)) >= 3  # saw progress move, in order
    assert client.get("/v1/jobs/nope/events").status_code == 404


# --- errors -----------------------------------------------------------------------------------------
def test_oversized_body_is_413_by_content_length(client):
    big = {"model": "echo", "messages": [{"role": "user", "content": "x" * (70 * 1024)}]}
    r = client.post("/v1/chat/completions", json=big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large" and "65536" in r.json()["error"]["message"]


def test_oversized_streamed_body_is_413(client):
    def chunks():  # no Content-Length: the server has to count
        for _ in range(80):
            yield b"x" * 1024

    r = client.post("/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_malformed_json_is_400_naming_the_problem(client):
    r = client.post("/v1/chat/completions", content=b'{"model": "echo", "messages": [', headers={"content-type": "application/json"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert "not valid JSON" in err["message"] and err["code"] == "invalid_json"


def test_json_without_content_type_is_400_saying_so(client):
    r = client.post("/v1/chat/completions", content=b'{"model": "echo"}')
    assert r.status_code == 400 and "Content-Type: application/json" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "url, body, param",
    [
        ("/v1/chat/completions", {"model": "echo", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ("/v1/chat/completions", {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ("/v1/allocators/cheap/allocate", {**PROBLEM, "workload": {"requests": [{"input_tokens": 1, "output_tokens": 1, "rate": -1}]}}, "workload.requests.0.rate"),
        ("/v1/allocators/cheap/allocate", {**PROBLEM, "typo_field": 1}, "typo_field"),
    ],
)
def test_bad_field_is_400_with_param_path(client, url, body, param):
    r = client.post(url, json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error" and param in err["message"]


def test_plugin_raising_is_500_and_server_keeps_serving(client, caplog):
    r = client.post("/v1/allocators/exploding/allocate", json=PROBLEM)
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["type"] == "internal_error" and "secret internal detail" not in err["message"]
    logged = [rec for rec in caplog.records if rec.name == "skyplex.gateway.middleware" and rec.exc_info]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])  # the details go to the log
    assert client.post("/v1/allocators/cheap/allocate", json=PROBLEM).status_code == 200


def test_unknown_route_and_method_are_json(client):
    assert client.get("/v1/nothing").json()["error"]["type"] == "not_found_error"
    r = client.delete("/v1/plugins")
    assert r.status_code == 405 and "DELETE" in r.json()["error"]["message"]


# --- OpenAI-compatible routes -------------------------------------------------------------------------
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 10}


def test_models_lists_backends(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert {"echo", "echo3"} <= set(ids)
    # only backends that can answer here are listed (openai needs a model name, vllm its package)
    assert "openai" not in ids
    assert client.get("/v1/models/echo").json()["owned_by"] == "testplug"


def test_unknown_backend_is_404_naming_model_and_listing_available(client):
    r = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-17"})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["param"] == "model" and "gpt-17" in err["message"] and "echo" in err["message"]


def test_chat_completion_shape(client):
    r = client.post("/v1/chat/completions", json={**CHAT, "logprobs": True, "top_logprobs": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-") and body["model"] == "echo"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo user: hello there"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    content = choice["logprobs"]["content"]
    assert [c["token"] for c in content] == ["echo ", "user: ", "hello ", "there"]
    assert [t["token"] for t in content[0]["top_logprobs"]] == ["echo ", "[alt1]"]  # best first, top 2
    assert content[0]["bytes"] == list(b"echo ")


def test_chat_default_model_stop_and_length(client):
    body = {"messages": [{"role": "user", "content": "a b c d e f"}], "max_tokens": 3}
    r = client.post("/v1/chat/completions", json=body).json()
    assert r["model"] == "echo" and r["choices"][0]["finish_reason"] == "length"
    r = client.post("/v1/chat/completions", json={**body, "max_tokens": 20, "stop": "c d"}).json()
    assert r["choices"][0]["message"]["content"] == "echo user: a b " and r["choices"][0]["finish_reason"] == "stop"


def test_text_completions_with_prompt_list_and_logprobs(client):
    r = client.post("/v1/completions", json={"model": "echo", "prompt": ["one two", "three"], "max_tokens": 8, "logprobs": 1})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion"
    assert [c["text"] for c in body["choices"]] == ["echo one two", "echo three"]
    assert [c["index"] for c in body["choices"]] == [0, 1]
    lp = body["choices"][0]["logprobs"]
    assert lp["tokens"] == ["echo ", "one ", "two"] and lp["text_offset"] == [0, 5, 9]
    assert lp["top_logprobs"][0] == {"echo ": -0.1}
    assert body["usage"]["completion_tokens"] == 5


def _sse_payloads(text: str) -> list[str]:
    assert all(block.startswith("data: ") for block in text.strip().split("\n\n"))
    return [block[len("data: ") :] for block in text.strip().split("\n\n")]


def test_streamed_chat_joins_to_the_non_streamed_text(client):
    full = client.post("/v1/chat/completions", json={**CHAT, "model": "echo3"}).json()["choices"][0]["message"]["content"]
    r = client.post("/v1/chat/completions", json={**CHAT, "model": "echo3", "stream": True, "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    payloads = _sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks if c["choices"])
    assert text == full
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


def test_streamed_text_completion(client):
    r = client.post("/v1/completions", json={"model": "echo3", "prompt": "hi you", "stream": True})
    chunks = [json.loads(p) for p in _sse_payloads(r.text)[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == "echo hi you"
    bad = client.post("/v1/completions", json={"model": "echo3", "prompt": ["a", "b"], "stream": True})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt"


# --- request coalescing ----------------------------------------------------------------------------
async def _concurrent(app, bodies, url="/v1/chat/completions"):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=AUTH) as c:
        return await asyncio.gather(*(c.post(url, json=b) for b in bodies))


def _bodies(n: int) -> list[dict]:
    return [{"model": "echo", "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 6} for i in range(n)]


def test_concurrent_requests_are_batched_and_match_unbatched(kernel):
    from skyplex.gateway import create_app

    backend = kernel.models.get("echo")
    # the batch closes when all 8 are in (max_batch), not on a timer, so the test does not depend on load
    batched_app = create_app(kernel, api_key=KEY, batch_window_ms=60_000, batch_max_wait_ms=60_000, max_batch=8)
    batched = asyncio.run(_concurrent(batched_app, _bodies(8)))
    batch_calls = batch_sizes(backend)
    backend.calls.clear()
    plain_app = create_app(kernel, api_key=KEY, batch_window_ms=None)
    plain = asyncio.run(_concurrent(plain_app, _bodies(8)))
    assert batch_sizes(backend) == [1] * 8
    assert batch_calls == [8]  # coalesced into one call
    strip = lambda r: (r.json()["choices"], r.json()["usage"])  # noqa: E731 - ids and times differ
    assert [strip(r) for r in batched] == [strip(r) for r in plain]
    assert batched_app.state.model_routing.coalescer("echo").batch_sizes


def test_seeded_sampling_is_never_batched(kernel):
    from skyplex.gateway import create_app

    backend = kernel.models.get("echo")
    app = create_app(kernel, api_key=KEY, batch_window_ms=50)
    bodies = [{**b, "temperature": 0.7, "seed": 1} for b in _bodies(4)]
    asyncio.run(_concurrent(app, bodies))
    assert batch_sizes(backend) == [1, 1, 1, 1]


def test_a_failing_request_does_not_fail_its_batch_neighbours(kernel):
    from skyplex.gateway import create_app

    app = create_app(kernel, api_key=KEY, batch_window_ms=50)
    bodies = _bodies(3) + [{"model": "echo", "prompt": "FAIL please", "max_tokens": 6}]
    chat = asyncio.run(_concurrent(app, bodies[:3] + [{**_bodies(1)[0], "messages": [{"role": "user", "content": "x"}]}]))
    assert all(r.status_code == 200 for r in chat)
    results = asyncio.run(_concurrent(app, [{"model": "echo", "prompt": p, "max_tokens": 6} for p in ("ok 1", "FAIL", "ok 2")], "/v1/completions"))
    assert [r.status_code for r in results] == [200, 500, 200]
    assert results[1].json()["error"]["type"] == "internal_error"


# --- OpenAPI ---------------------------------------------------------------------------------------
#: every route the gateway promises, with whether it takes a JSON body
EXPECTED_ROUTES = [
    ("get", "/healthz", False),
    ("get", "/v1/plugins", False),
    *[("get", f"/v1/{kind}s", False) for kind in ("allocator", "scheduler", "executor", "auditor", "evaluator", "trainer", "inspector")],
    *[("get", f"/v1/{kind}s/{{name}}", False) for kind in ("allocator", "scheduler", "executor", "auditor", "evaluator", "trainer", "inspector")],
    ("post", "/v1/allocators/{name}/allocate", True),
    ("post", "/v1/schedulers/{name}/plan", True),
    ("post", "/v1/executors/{name}/actions", True),
    ("get", "/v1/executors/{name}/actions", False),
    ("post", "/v1/executors/{name}/actions/{action_id}/run", False),
    ("post", "/v1/executors/{name}/actions/{action_id}/commit", False),
    ("post", "/v1/executors/{name}/actions/{action_id}/undo", False),
    ("post", "/v1/auditors/{name}/commit", True),
    ("post", "/v1/auditors/{name}/prove", True),
    ("post", "/v1/auditors/{name}/verify", True),
    ("post", "/v1/evaluators/{name}/runs", True),
    ("post", "/v1/trainers/{name}/datasets", True),
    ("post", "/v1/trainers/{name}/finetunes", True),
    ("post", "/v1/inspectors/{name}/inspect", True),
    ("get", "/v1/jobs", False),
    ("get", "/v1/jobs/{job_id}", False),
    ("post", "/v1/jobs/{job_id}/cancel", False),
    ("get", "/v1/jobs/{job_id}/events", False),
    ("get", "/v1/models", False),
    ("get", "/v1/models/{model}", False),
    ("post", "/v1/chat/completions", True),
    ("post", "/v1/completions", True),
    ("post", "/tokenize", True),
    ("post", "/detokenize", True),
    ("get", "/tokenizer_info", False),
    ("get", "/plugins/testplug/hello", False),
]


def test_openapi_documents_every_route_with_schemas(app):
    schema = TestClient(app).get("/openapi.json").json()
    paths = schema["paths"]
    documented = {(m, p) for p, ops in paths.items() for m in ops}
    assert {(m, p) for m, p, _ in EXPECTED_ROUTES} == documented
    for method, path, has_body in EXPECTED_ROUTES:
        op = paths[path][method]
        ok = [code for code in op["responses"] if code.startswith("2")]
        assert ok, f"{method} {path} has no success response"
        content = op["responses"][ok[0]].get("content", {})
        assert any(c.get("schema") for c in content.values()), f"{method} {path} has no response schema"
        if has_body:
            assert op["requestBody"]["content"]["application/json"]["schema"], path
        if path != "/healthz":
            assert op["security"] == [{"bearerAuth": []}], path
            assert {"400", "401", "500"} <= set(op["responses"]), path
    names = set(schema["components"]["schemas"])
    assert {"ChatCompletionRequest", "ChatCompletion", "AllocationProblem", "Allocation", "Job", "ErrorResponse"} <= names
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# --- server helpers ------------------------------------------------------------------------------------
def test_serve_refuses_no_auth_off_loopback(kernel):
    from skyplex.gateway import serve

    with pytest.raises(InvalidInputError) as info:
        serve(kernel, host="0.0.0.0", auth=False)
    assert info.value.field == "--no-auth" and "loopback" in info.value.message


def test_is_loopback():
    from skyplex.gateway import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.5.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")


def test_api_key_file_created_once_with_mode_600(tmp_path):
    from skyplex.gateway import load_or_create_api_key

    key, created = load_or_create_api_key(tmp_path / "d")
    assert created and len(key) > 30
    path = tmp_path / "d" / "gateway.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, created_again = load_or_create_api_key(tmp_path / "d")
    assert (again, created_again) == (key, False)
    path.write_text("")
    with pytest.raises(InvalidInputError, match="empty"):
        load_or_create_api_key(tmp_path / "d")


def test_importing_skyplex_does_not_import_fastapi():
    import subprocess
    import sys

    code = "import sys, skyplex; skyplex.Kernel; print('fastapi' in sys.modules, 'openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_coalescer_keeps_a_trickling_burst_together_and_respects_max_batch():
    from skyplex.gateway.batching import RequestCoalescer

    backend = EchoBackend()
    # a window far longer than the gaps, even on a loaded machine: one burst, split only by max_batch
    coalescer = RequestCoalescer(backend, window_s=2.0, max_wait_s=30.0, max_batch=5, name="echo")
    params = GenerationParams(max_tokens=4)
    futures = []
    for i in range(7):
        futures.append(coalescer.submit([f"p{i}"], params))
        time.sleep(0.01)
    texts = [f.result(timeout=10)[0].text for f in futures]
    coalescer.close()
    assert texts == [f"echo p{i}" for i in range(7)]  # each caller gets its own answer, in order
    assert batch_sizes(backend) == [5, 2]


def test_coalescer_does_not_mix_different_params():
    from skyplex.gateway.batching import RequestCoalescer

    backend = EchoBackend()
    coalescer = RequestCoalescer(backend, window_s=1.0, name="echo")  # long enough that a and c always meet
    a = coalescer.submit(["x y z"], GenerationParams(max_tokens=2))
    b = coalescer.submit(["x y z"], GenerationParams(max_tokens=4))
    c = coalescer.submit(["q"], GenerationParams(max_tokens=2))
    assert a.result(10)[0].text == "echo x " and b.result(10)[0].text == "echo x y z"
    assert c.result(10)[0].text == "echo q"
    coalescer.close()
    assert sorted(batch_sizes(backend)) == [1, 2]


def test_the_public_page_marker_is_public_and_the_old_path_still_works():
    import skyplex.gateway
    from skyplex.gateway.middleware import PUBLIC_PAGE

    assert skyplex.gateway.PUBLIC_PAGE is PUBLIC_PAGE and "PUBLIC_PAGE" in skyplex.gateway.__all__


# --- JSON bodies that repeat a key ------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, raw, key",
    [
        ("/v1/auditors/hash/commit", b'{"kind": "dataset", "data": [1, 2], "kind": "weights"}', "kind"),
        ("/v1/chat/completions", b'{"model": "echo", "messages": [{"role": "user", "content": "a", "content": "b"}]}', "content"),
        ("/v1/allocators/cheap/allocate", b'{"gpu_types": [], "gpu_types": []}', "gpu_types"),
    ],
)
def test_a_body_that_repeats_a_key_is_refused_naming_it(client, kernel, path, raw, key):
    # which copy wins differs between parsers, so the gateway refuses instead of acting on one reading
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "duplicated_key" and error["param"] == key and repr(key) in error["message"]
    assert kernel.models.get("echo").calls == []  # nothing reached the model


@settings(max_examples=80, deadline=None)
@given(doc=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
), data=st.data())
def test_duplicated_key_finds_a_repeat_anywhere_and_only_a_repeat(doc, data):
    from skyplex.encoding import duplicated_key

    text = json.dumps(doc)
    assert duplicated_key(text) is None  # a document written by json.dumps never repeats a key
    objects = [m for m in _objects(doc) if m]
    if objects:  # repeat one key of one object, spelled the way json.dumps writes it
        target = data.draw(st.sampled_from(objects))
        key = data.draw(st.sampled_from(sorted(target)))
        target_text = json.dumps(target)
        repeated = target_text[:-1] + ", " + json.dumps(key) + ": null}"
        assert duplicated_key(text.replace(target_text, repeated, 1)) is not None


def _objects(doc):
    if isinstance(doc, dict):
        yield doc
        for v in doc.values():
            yield from _objects(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _objects(v)
