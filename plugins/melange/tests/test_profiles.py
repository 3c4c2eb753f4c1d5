"""Roofline estimates and measured profile files (format, resume, SLO tables)."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces import SLO
from skyplex_melange.catalogue import load_catalogue
from skyplex_melange.profiles import (
    ProfileHeader,
    ProfilePoint,
    append_point,
    lookup_rate,
    max_rate_table,
    min_tensor_parallel,
    read_profile,
    roofline_max_rate,
    write_header,
)


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def test_roofline_is_labelled_and_sane(cat):
    m7 = cat.model("llama-2-7b")
    a10, h100 = cat.gpu("A10G"), cat.gpu("H100")
    loose, tight = SLO(tpot_s=0.12), SLO(tpot_s=0.04)
    est = roofline_max_rate(a10, m7, 256, 256, loose)
    assert est.estimate and est.max_rate and est.max_rate > 0 and est.tpot_s <= 0.12
    # a tighter SLO never allows more; a faster GPU never serves less; longer requests never faster
    assert (roofline_max_rate(a10, m7, 256, 256, tight).max_rate or 0) <= est.max_rate
    assert roofline_max_rate(h100, m7, 256, 256, loose).max_rate > est.max_rate
    assert roofline_max_rate(a10, m7, 2048, 512, loose).max_rate < est.max_rate


def test_model_too_big_for_one_gpu(cat):
    m70 = cat.model("llama-2-70b")
    est = roofline_max_rate(cat.gpu("L4"), m70, 256, 256, SLO(tpot_s=0.12))
    assert est.max_rate is None and "does not fit" in est.reason
    assert min_tensor_parallel(cat.gpu("A100-80GB"), m70) == 2
    assert roofline_max_rate(cat.gpu("A100-80GB"), m70, 256, 256, SLO(tpot_s=0.12), tensor_parallel=2).max_rate > 0


def test_unknown_gpu_and_model_are_named(cat):
    with pytest.raises(InvalidInputError, match="unknown GPU type 'B200'"):
        cat.gpu("B200")
    with pytest.raises(InvalidInputError, match="unknown model preset"):
        cat.model("gpt-9")


def _point(i, o, rate, ttft, tpot, queued=False, errors=0):
    e2e = [ttft + o * tpot] * 4
    if queued:  # later requests waited longer: the server fell behind
        e2e = [e2e[0], e2e[0], 3 * e2e[0], 4 * e2e[0]]
    return ProfilePoint(i, o, rate, 4, [ttft] * 4, [tpot] * 4, e2e, rate, rate * o, errors)


def test_profile_file_round_trip_and_slo_table(tmp_path):
    path = tmp_path / "p.jsonl"
    write_header(path, ProfileHeader(gpu="A10G", model="m"))
    for p in [_point(128, 64, 1, 0.1, 0.02), _point(128, 64, 2, 0.1, 0.03), _point(128, 64, 4, 0.2, 0.06),
              _point(128, 64, 8, 0.1, 0.02, queued=True),  # saturated: a queue built up
              _point(512, 64, 1, 0.5, 0.05)]:
        append_point(path, p)
    with path.open("a") as fh:
        fh.write('{"point": {"input_tokens": 1')  # a sweep killed mid-write
    prof = read_profile(path)
    assert len(prof.points) == 5 and prof.header.version == 1
    table = max_rate_table(prof, SLO(tpot_s=0.04))
    assert table == {(128, 64): 2, (512, 64): None}
    assert max_rate_table(prof, SLO(tpot_s=0.1))[(128, 64)] == 4
    assert lookup_rate(table, 100, 50) == 2  # covered by the larger bucket
    with pytest.raises(InvalidInputError, match="no profiled bucket covers"):
        lookup_rate(table, 4096, 64)


def test_profile_version_is_checked(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text('{"header": {"format": "skyplex-melange-profile", "version": 0, "gpu": "A10G", "model": "m"}}\n')
    with pytest.raises(InvalidInputError, match="version 0"):
        read_profile(path)


def test_prefill_weight_read_is_shared_by_the_batch(cat):
    """Prompts waiting at one step are prefilled in one pass that reads the weights once: at batch B
    with B/out >= 1 arrivals per step, TPOT is the decode step plus ONE pass, not B/out weight reads.
    (The old model charged every prompt max(compute, W/bandwidth), which on an A10G cost 28 ms per
    64-token prompt and halved its short-request rate.)"""
    from skyplex_melange.profiles import RooflineAssumptions

    a = RooflineAssumptions()
    gpu, m7 = cat.gpu("A10G"), cat.model("llama-2-7b")
    est = roofline_max_rate(gpu, m7, 64, 64, SLO(tpot_s=0.12))
    B = est.batch
    bw = gpu.bandwidth_gbps * 1e9 * a.bandwidth_efficiency
    flops = gpu.peak_tflops * 1e12 * a.flops_efficiency
    params, W, kv = m7.params_b * 1e9, m7.weight_bytes, m7.kv_bytes_per_token
    step = max((W + B * kv * (64 + 32)) / bw, 2 * params * B / flops)
    arrivals = B / 64
    assert arrivals >= 1  # the regime the bug lived in
    one_pass = max(arrivals * 2 * params * 64 / flops, W / bw)
    assert est.tpot_s == pytest.approx(step + one_pass, rel=1e-9)
    assert est.tpot_s < step + arrivals * W / bw  # what per-prompt weight reads would have cost
    # with fewer than one arrival per step, a one-prompt pass every out/B steps
    long = roofline_max_rate(gpu, m7, 2048, 256, SLO(tpot_s=0.12))
    assert long.batch < 256
