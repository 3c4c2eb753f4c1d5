"""Histograms from traces and matrices, per-period rates, and their bad inputs."""

from __future__ import annotations

import json

import pytest
from skyplex.errors import InvalidInputError
from skyplex_melange.workload import histogram_workload, hourly_rates, scale_workload, workload_from_trace


def test_histogram_from_csv_trace(tmp_path):
    trace = tmp_path / "t.csv"
    rows = ["input_tokens,output_tokens,timestamp"] + [f"100,50,{i}" for i in range(6)] + [f"3000,300,{6 + i}" for i in range(4)]
    trace.write_text("\n".join(rows) + "\n")
    wl = workload_from_trace(trace, input_edges=[0, 512, 8192], output_edges=[0, 128, 2048])
    by = {r.name: r for r in wl.requests}
    assert set(by) == {"in0-512/out0-128", "in512-8192/out128-2048"}
    # 10 requests over 9 seconds; 60/40 split; lengths are the longest seen in each bucket
    assert wl.total_rate == pytest.approx(10 / 9)
    assert by["in0-512/out0-128"].rate == pytest.approx(0.6 * 10 / 9)
    assert (by["in512-8192/out128-2048"].input_tokens, by["in512-8192/out128-2048"].output_tokens) == (3000, 300)


def test_histogram_from_jsonl_trace_with_rate_and_tiers(tmp_path):
    trace = tmp_path / "t.jsonl"
    lines = [{"input_tokens": 64, "output_tokens": 32, "slo_tier": "interactive"},
             {"input_tokens": 64, "output_tokens": 32, "slo_tier": "batch"},
             {"input_tokens": 64, "output_tokens": 32, "slo_tier": "batch"},
             {"input_tokens": 60, "output_tokens": 30, "slo_tier": "batch"}]
    trace.write_text("\n".join(json.dumps(x) for x in lines))
    wl = workload_from_trace(trace, total_rate=8.0)
    rates = {r.name: r.rate for r in wl.requests}
    assert rates == {"batch:in0-128/out0-64": 6.0, "interactive:in0-128/out0-64": 2.0}
    assert wl.metadata["request_tiers"]["batch:in0-128/out0-64"] == "batch"


def test_empty_trace_is_an_error(tmp_path):
    trace = tmp_path / "empty.csv"
    trace.write_text("input_tokens,output_tokens\n")
    with pytest.raises(InvalidInputError, match="no requests"):
        workload_from_trace(trace, total_rate=1.0)


def test_trace_bad_row_is_named(tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("input_tokens,output_tokens\n10,5\nten,5\n")
    with pytest.raises(InvalidInputError, match="row 2"):
        workload_from_trace(trace, total_rate=1.0)


def test_trace_without_timestamps_needs_a_rate(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("input_tokens,output_tokens\n10,5\n")
    with pytest.raises(InvalidInputError, match="total_rate"):
        workload_from_trace(trace)


def test_hourly_rates(tmp_path):
    trace = tmp_path / "t.csv"
    stamps = [0, 10, 20, 3600 + 5, 2 * 3600 + 1, 2 * 3600 + 2]
    trace.write_text("input_tokens,output_tokens,timestamp\n" + "\n".join(f"10,5,{t}" for t in stamps))
    assert hourly_rates(trace) == pytest.approx([3 / 3600, 1 / 3600, 2 / 3600])


def test_histogram_must_sum_to_one():
    with pytest.raises(InvalidInputError, match="sum to 0.9"):
        histogram_workload([[0.5, 0.2], [0.1, 0.1]], 10.0)
    with pytest.raises(InvalidInputError, match=r"\[1\]\[0\]"):
        histogram_workload([[0.5, 0.5], [-0.1, 0.1]], 10.0)
    wl = histogram_workload([[0.25, 0.25], [0.5, 0.0]], 10.0)
    assert [r.rate for r in wl.requests] == [2.5, 2.5, 5.0, 0.0]


def test_scale_workload_keeps_the_mix():
    wl = scale_workload(histogram_workload([[0.25, 0.75]], 4.0), 40.0)
    assert [r.rate for r in wl.requests] == pytest.approx([10.0, 30.0])
