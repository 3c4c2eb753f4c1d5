"""Serving several backends from one worker: every request once, ADBS interleaves, FCFS does not."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex.testing import FakeModelBackend
from skyplex_muxserve.serving import ServedModel, TraceRequest, make_trace, serve


class Recording(FakeModelBackend):
    """A fake backend that notes which model ran each batch, in order."""

    log: list[str] = []

    def __init__(self, name: str) -> None:
        super().__init__(model=name)
        self.name = name

    def generate(self, prompts, params=None):
        Recording.log.append(self.name)
        return super().generate(prompts, params)


def _models():
    Recording.log = []
    return [ServedModel("popular", Recording("popular"), rate=9.0, max_tokens=4),
            ServedModel("rare", Recording("rare"), rate=1.0, max_tokens=4)]


def _burst(models):
    # everything queued at once: 40 popular requests ahead of 4 rare ones
    trace = [TraceRequest(i, 0.0, "popular", "hi", 4) for i in range(40)]
    trace += [TraceRequest(40 + i, 0.0, "rare", "hi", 4) for i in range(4)]
    return trace


def test_every_request_is_served_once_under_both_policies():
    models = _models()
    trace = make_trace(models, duration_s=0.5, seed=3)
    alone = {m.name: 0.01 for m in models}
    for policy in ("fcfs", "adbs"):
        out = serve(models, trace, policy, alone, max_batch=4)
        assert out["served"] == out["requests"] == len(trace)
        assert sum(v["requests"] for v in out["per_model"].values()) == len(trace)


def test_fcfs_runs_the_rare_model_last_and_adbs_gives_it_a_turn():
    models = _models()
    alone = {m.name: 1.0 for m in models}
    serve(models, _burst(models), "fcfs", alone, max_batch=4)
    assert Recording.log.index("rare") == 10  # after all ten popular batches
    Recording.log = []
    serve(models, _burst(models), "adbs", alone, max_batch=4)
    # rare's first turn comes within its 1-in-10 weighted share, not after the whole popular backlog
    assert Recording.log.index("rare") <= 9
    # while rare waits, popular's batches are cut to its token quota (90% of 4 x 4 tokens: 3 requests)
    assert Recording.log.count("popular") > 10


def test_bad_serving_input_is_named():
    models = _models()
    with pytest.raises(InvalidInputError, match="unknown policy"):
        serve(models, [], "lifo", {})
    with pytest.raises(InvalidInputError, match="not served"):
        serve(models, [TraceRequest(0, 0.0, "ghost", "x", 1)], "fcfs", {})
    with pytest.raises(InvalidInputError, match="rate must be > 0"):
        make_trace([ServedModel("z", Recording("z"), rate=0.0)], 1.0)


@pytest.mark.slow
def test_real_local_backends_serve_a_small_mix(skyplex_local_backend):
    from skyplex_muxserve.serving import isolated_latency

    models = [ServedModel("chat", skyplex_local_backend, rate=4.0, max_tokens=6),
              ServedModel("short", skyplex_local_backend, rate=1.0, max_tokens=2)]
    trace = make_trace(models, duration_s=1.0, seed=0)[:6]
    alone = isolated_latency(models)
    out = serve(models, trace, "adbs", alone, max_batch=4)
    assert out["served"] == len(trace) and out["p99_latency"] > 0
