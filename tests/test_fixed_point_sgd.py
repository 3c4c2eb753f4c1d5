"""The fixed-point SGD witness kernel: bit-identical to the big-integer reference, checker catches
corrupted traces, bad input refused, CUDA compiled (its run skips without a device)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skyplex_zkaudit", reason="the reference lives in the zkaudit plugin")
from skyplex import ops  # noqa: E402
from skyplex_zkaudit import fixedpoint  # noqa: E402
from skyplex_zkaudit.witness import check_trace, compute_trace, lr_to_q, one_hot, quantize  # noqa: E402


def problem(seed=0, steps=3, b=8, d=16, c=4, hidden=0, frac_bits=17, w_scale=0.3):
    rng = np.random.default_rng(seed)
    x = quantize(rng.normal(size=(steps, b, d)), frac_bits)
    y = one_hot(rng.integers(0, c, (steps, b)), c, frac_bits)
    if hidden:
        w1 = quantize(rng.normal(size=(d, hidden)) * w_scale, frac_bits)
        w2 = quantize(rng.normal(size=(hidden, c)) * w_scale, frac_bits)
    else:
        w1, w2 = quantize(rng.normal(size=(d, c)) * w_scale, frac_bits), None
    return x, y, w1, w2, lr_to_q(0.5, b, frac_bits), frac_bits


CASES = [dict(), dict(hidden=6), dict(frac_bits=8, d=8, c=3, b=4), dict(frac_bits=8, hidden=5, seed=3),
         dict(steps=1, b=1, d=1, c=2), dict(w_scale=30.0, frac_bits=12)]  # large logits: exp table runs out


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_cpu_kernel_is_bit_identical_to_reference(case):
    x, y, w1, w2, lr_q, fb = problem(**case)
    ref = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="python")
    got = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cpu")
    assert sorted(ref) == sorted(got)
    for name in ref:
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
    assert check_trace(x, y, w1, w2, got, lr_q=lr_q, frac_bits=fb) == ""


def test_rdiv_rounds_half_up_with_tight_remainder():
    for a in range(-20, 21):
        for b in (1, 2, 3, 7):
            q, r = fixedpoint.rdiv(a, b)
            assert 2 * a + b == 2 * b * q + r and 0 <= r < 2 * b
            assert q == np.floor(a / b + 0.5)


def test_exp_table_refuses_impractical_scales():
    with pytest.raises(ValueError, match="frac_bits"):
        fixedpoint.exp_table(30)


def test_exp_table_matches_float_exp():
    t = fixedpoint.exp_table(12)
    k = np.arange(len(t))
    assert np.abs(np.array(t) - np.exp(-k / 4096) * 4096).max() <= 0.5 + 1e-9
    assert t[0] == 4096 and t[-1] >= 1


@pytest.mark.parametrize("field", ["z", "z_rem", "zmax", "e", "esum", "p", "p_rem", "g", "g_rem", "w_new", "w_rem"])
def test_checker_catches_each_corrupted_field(field):
    x, y, w1, w2, lr_q, fb = problem()
    trace = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cpu")
    trace[field][1, 0] += 1
    msg = check_trace(x, y, w1, w2, trace, lr_q=lr_q, frac_bits=fb)
    assert msg.startswith("step ") and msg  # names the step, field and index


@pytest.mark.parametrize("field", ["a", "h", "dh", "g1", "g2", "w1_new", "w2_rem"])
def test_checker_catches_corrupted_mlp_fields(field):
    x, y, w1, w2, lr_q, fb = problem(hidden=6)
    trace = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cpu")
    trace[field][2, 1] -= 1
    assert check_trace(x, y, w1, w2, trace, lr_q=lr_q, frac_bits=fb)


def test_checker_catches_broken_chain_and_inconsistent_remainder_pair():
    x, y, w1, w2, lr_q, fb = problem()
    trace = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cpu")
    # shift q and r together so 2a+b = 2bq+r still holds: only the range check can catch it
    trace["w_new"][0, 0] -= 1
    trace["w_rem"][0, 0] += 2 << fb
    assert "remainder" in check_trace(x, y, w1, w2, trace, lr_q=lr_q, frac_bits=fb)
    with pytest.raises(ValueError, match="w1"):
        check_trace(x, y, w1[:-1], w2, trace, lr_q=lr_q, frac_bits=fb)


def test_overflow_is_reported_not_wrapped():
    x, y, w1, w2, lr_q, fb = problem()
    x = np.clip(x * 2**33, -(2**51), 2**51).astype(np.int64)  # z = x.w / SF reaches ~2^55 > 2^52
    with pytest.raises(OverflowError, match="2\\^52|2\\*\\*52"):
        compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cpu")
    with pytest.raises(fixedpoint.WitnessOverflowError):
        compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="python")


@pytest.mark.parametrize("bad, match", [
    (lambda a: dict(a, x=a["x"].astype(np.float64)), "int64"),
    (lambda a: dict(a, y=np.ascontiguousarray(a["y"][:, :, :-1])), "w1 must have shape"),
    (lambda a: dict(a, y=a["y"][:, :, :-1]), "non-contiguous"),
    (lambda a: dict(a, x=np.full_like(a["x"], 1 << 53)), "2\\^52"),
    (lambda a: dict(a, table=np.zeros(0, np.int64)), "table"),
])
def test_bad_input_is_refused_with_a_reason(bad, match):
    x, y, w1, w2, lr_q, fb = problem()
    args = bad(dict(x=x, y=y, w1=w1, w2=w2, table=np.asarray(fixedpoint.exp_table(fb), np.int64)))
    with pytest.raises(ValueError, match=match):
        ops.fixed_point_sgd(**args, lr_q=lr_q, frac_bits=fb, backend="cpu")


def test_cuda_module_has_the_kernel_and_matches_when_a_device_exists():
    cuda = ops._compiled("_C_cuda")
    if cuda is None:
        pytest.skip("skyplex._C_cuda was not built (no nvcc at build time)")
    assert hasattr(cuda, "fixed_point_sgd")
    if "cuda" not in ops.available_backends():
        pytest.skip(f"no CUDA device: {cuda.device_status()}")
    for case in CASES:
        x, y, w1, w2, lr_q, fb = problem(**case)
        ref = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cpu")
        got = compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend="cuda")
        for name in ref:
            np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
