"""The vLLM /metrics parser, on text in the format vLLM's Prometheus endpoint serves."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex_llmsql.execution import ExecutionOptions, evaluate
from skyplex_llmsql.prompts import PromptTemplate
from skyplex_llmsql.vllm_metrics import metrics_url, parse_prometheus, prefix_cache_counters

# written to the exposition format of a vLLM V1 server (prometheus_client output), two models
V1_TEXT = """\
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 12800.0
vllm:prefix_cache_queries_total{engine="0",model_name="other"} 99.0
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 9600.0
vllm:prefix_cache_hits_total{engine="0",model_name="other"} 0.0
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 12800.0
vllm:prompt_tokens_created{engine="0",model_name="HuggingFaceTB/SmolLM2-135M-Instruct"} 1.7e+09
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="x"} 4.0
"""
V0_TEXT = """\
# TYPE vllm:gpu_prefix_cache_hit_rate gauge
vllm:gpu_prefix_cache_hit_rate{model_name="m"} 0.625
"""


def test_counters_are_read_per_model_and_differenced():
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    after = prefix_cache_counters(V1_TEXT, model)
    assert (after.queries, after.hits, after.prompt_tokens) == (12800.0, 9600.0, 12800.0)
    assert after.hit_rate == pytest.approx(0.75)
    before = prefix_cache_counters(V1_TEXT.replace("12800.0", "2800.0").replace("9600.0", "1600.0"), model)
    assert after.since(before).hit_rate == pytest.approx(8000 / 10000)
    assert prefix_cache_counters(V1_TEXT).queries == 12899.0  # all models


def test_v0_gauge_and_missing_counters():
    assert prefix_cache_counters(V0_TEXT).hit_rate == 0.625
    assert prefix_cache_counters("# nothing\n").hit_rate is None


def test_malformed_metrics_and_urls_are_refused():
    assert parse_prometheus('a{b="c \\"q\\""} 1')[0].labels == {"b": 'c "q"'}
    with pytest.raises(InvalidInputError, match="not a Prometheus sample"):
        parse_prometheus("this is not metrics")
    assert metrics_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/metrics"
    with pytest.raises(InvalidInputError):
        metrics_url("localhost")


def test_call_reports_server_counters_around_the_run(monkeypatch, echo_backend):
    import skyplex_llmsql.vllm_metrics as vm

    scrapes = iter([V1_TEXT.replace("12800.0", "2800.0").replace("9600.0", "1600.0"), V1_TEXT])
    monkeypatch.setattr(vm, "scrape", lambda url, model=None: prefix_cache_counters(next(scrapes), model))
    backend = echo_backend()
    backend.base_url, backend.model = "http://127.0.0.1:8000/v1", "HuggingFaceTB/SmolLM2-135M-Instruct"
    _, report = evaluate(backend, PromptTemplate("Echo", ("a",)), [("x",), ("y",)], options=ExecutionOptions())
    assert report.server_cache == {"queries": 10000.0, "hits": 8000.0, "hit_rate": 0.8}
