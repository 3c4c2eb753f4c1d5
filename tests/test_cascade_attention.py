"""Cascade (prefix-sharing) attention against naive attention over [prefix || own suffix] per sequence.

Tolerances: the compiled kernels compute in float32 (scores, online softmax, sums) against a float64
reference, so outputs agree to RTOL = 1e-5 relative plus ATOL = 2e-6 absolute (outputs are O(1));
the lse to 1e-5 relative. float16 inputs on CUDA are compared with the reference run on the same
float16-rounded values, at 1e-3 (the output is still accumulated in float32).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from skyplex import ops, ops_reference

RTOL, ATOL = 1e-5, 2e-6

ALL_BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture(autouse=True)
def fresh_backend_cache(monkeypatch):
    monkeypatch.delenv(ops.ENV_VAR, raising=False)
    ops._compiled.cache_clear()
    ops._cuda_device_count.cache_clear()
    yield
    ops._compiled.cache_clear()
    ops._cuda_device_count.cache_clear()


def skip_unless_available(name: str) -> None:
    if name not in ops.available_backends():
        pytest.skip(f"ops backend {name!r} is not available here (available: {ops.available_backends()})")


def make_group(
    rng: np.random.Generator,
    prefix_len: int,
    suffix_lens: list[int],
    queries: list[int],
    q_heads: int,
    kv_heads: int,
    head_dim: int,
    dtype=np.float32,
):
    """Random packed inputs of one group; keys scaled up so the softmax is far from uniform."""

    def rand(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    q = rand(sum(queries), q_heads, head_dim)
    k_prefix = rand(prefix_len, kv_heads, head_dim, scale=2.0)
    v_prefix = rand(prefix_len, kv_heads, head_dim)
    k_suffix = rand(sum(suffix_lens), kv_heads, head_dim, scale=2.0)
    v_suffix = rand(sum(suffix_lens), kv_heads, head_dim)
    q_offsets, kv_offsets = ops.offsets_from_lengths(queries), ops.offsets_from_lengths(suffix_lens)
    return q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets


def naive_per_sequence(q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, *, causal, scale=None):
    """Each sequence attends its whole [prefix || suffix] on its own: the thing cascade must equal."""
    outs, lses = [], []
    for s in range(len(q_offsets) - 1):
        qs = slice(q_offsets[s], q_offsets[s + 1])
        ks = slice(kv_offsets[s], kv_offsets[s + 1])
        k = np.concatenate([k_prefix, k_suffix[ks]])
        v = np.concatenate([v_prefix, v_suffix[ks]])
        o, lse = ops_reference.attention(q[qs], k, v, causal=causal, scale=scale)
        outs.append(o)
        lses.append(lse)
    return np.concatenate(outs), np.concatenate(lses)


# (prefix_len, suffix lengths, queries per sequence, q_heads, kv_heads, head_dim)
DECODE = [
    (64, [5, 9, 1, 3], [1, 1, 1, 1], 9, 3, 64),  # SmolLM2-135M heads, GQA 3:1
    (300, [17] * 16, [1] * 16, 8, 2, 128),  # a 16-sequence group, wide prefix tiles
    (129, [40, 2], [1, 1], 4, 4, 32),  # plain multi-head attention
    (33, [7] * 12, [1] * 12, 6, 1, 80),  # multi-query attention, head_dim not a power of two
    (1000, [3, 1, 8, 2], [1] * 4, 9, 3, 64),  # few prefix tiles: the CPU splits the prefix keys too
]
PREFILL = [
    (64, [20, 7, 40], [20, 3, 17], 9, 3, 64),  # the whole suffix of sequence 0 is queried
    (200, [50, 50], [33, 12], 8, 2, 128),  # more than one 32-row tile per sequence
    (5, [3, 70], [3, 70], 2, 1, 16),
]


def case_id(case) -> str:
    prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim = case
    return f"P{prefix_len}-G{len(suffix_lens)}-M{max(queries)}-h{q_heads}x{kv_heads}-d{head_dim}"


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("case", DECODE + PREFILL, ids=case_id)
def test_matches_naive_attention_per_sequence(backend, case):
    skip_unless_available(backend)
    prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim = case
    args = make_group(np.random.default_rng(prefix_len), prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim)
    out, lse = ops.cascade_attention(*args, backend=backend)
    ref_out, ref_lse = naive_per_sequence(*args, causal=True)
    assert out.dtype == np.float32 and lse.dtype == np.float32
    assert out.shape == (sum(queries), q_heads, head_dim) and lse.shape == (sum(queries), q_heads)
    np.testing.assert_allclose(out, ref_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_causal_mask_inside_the_suffix(backend):
    """Prefill: query j of a sequence must not see later suffix keys; a huge value there would show."""
    skip_unless_available(backend)
    args = list(make_group(np.random.default_rng(7), 16, [6], [6], 2, 1, 8))
    args[4] = args[4].copy()
    args[4][-1] = 1e6  # the last suffix token's value: only the last query may see it
    out, _ = ops.cascade_attention(*args, backend=backend)
    assert np.abs(out[:-1]).max() < 100
    np.testing.assert_allclose(out, naive_per_sequence(*args, causal=True)[0], rtol=RTOL, atol=1e-2)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_non_causal_sees_every_key(backend):
    skip_unless_available(backend)
    args = make_group(np.random.default_rng(8), 50, [10, 4, 0], [3, 5, 2], 4, 2, 32)
    out, lse = ops.cascade_attention(*args, causal=False, scale=0.3, backend=backend)
    ref_out, ref_lse = naive_per_sequence(*args, causal=False, scale=0.3)
    np.testing.assert_allclose(out, ref_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_no_prefix_is_plain_per_sequence_attention(backend):
    """P = 0: nothing is shared, the result is each sequence's own (causal) attention."""
    skip_unless_available(backend)
    args = make_group(np.random.default_rng(9), 0, [12, 1, 30], [4, 1, 30], 6, 3, 64)
    out, lse = ops.cascade_attention(*args, backend=backend)
    ref_out, ref_lse = naive_per_sequence(*args, causal=True)
    np.testing.assert_allclose(out, ref_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_empty_suffixes(backend):
    """A sequence with no suffix keys attends the prefix only (non-causal), or has no queries (causal)."""
    skip_unless_available(backend)
    args = make_group(np.random.default_rng(10), 40, [0, 6, 0], [2, 1, 1], 4, 2, 16)
    out, lse = ops.cascade_attention(*args, causal=False, backend=backend)
    ref_out, ref_lse = naive_per_sequence(*args, causal=False)
    np.testing.assert_allclose(out, ref_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL, atol=ATOL)
    prefix_only, _ = ops_reference.attention(args[0][:2], args[1], args[2])
    np.testing.assert_allclose(out[:2], prefix_only, rtol=RTOL, atol=ATOL)

    causal_args = make_group(np.random.default_rng(11), 40, [0, 6, 3], [0, 2, 3], 4, 2, 16)
    out, lse = ops.cascade_attention(*causal_args, backend=backend)
    np.testing.assert_allclose(out, naive_per_sequence(*causal_args, causal=True)[0], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_no_keys_at_all_gives_zeros_and_minus_inf(backend):
    skip_unless_available(backend)
    args = make_group(np.random.default_rng(12), 0, [0, 0], [1, 2], 2, 2, 8)
    out, lse = ops.cascade_attention(*args, causal=False, backend=backend)
    np.testing.assert_array_equal(out, np.zeros_like(out))
    assert np.isneginf(lse).all()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_empty_batches(backend):
    skip_unless_available(backend)
    args = make_group(np.random.default_rng(13), 10, [], [], 4, 2, 8)  # a group of no sequences
    out, lse = ops.cascade_attention(*args, backend=backend)
    assert out.shape == (0, 4, 8) and lse.shape == (0, 4)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_is_stable_for_large_scores(backend):
    """Scores in the thousands: the online softmax shifts by the running maximum, nothing overflows."""
    skip_unless_available(backend)
    args = make_group(np.random.default_rng(14), 70, [9, 3], [1, 1], 2, 1, 16)
    out, lse = ops.cascade_attention(*args, scale=100.0, backend=backend)
    assert np.isfinite(out).all() and np.isfinite(lse).all()
    ref_out, ref_lse = naive_per_sequence(*args, causal=True, scale=100.0)
    np.testing.assert_allclose(out, ref_out, rtol=RTOL, atol=1e-5)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL)


def test_cpu_equals_numpy_reference_on_a_larger_group():
    """Many tiles, several key blocks, both CPU kernels (narrow decode rows and wide prefix tiles)."""
    skip_unless_available("cpu")
    args = make_group(np.random.default_rng(15), 700, [30, 1, 65, 8] * 4, [1, 1, 33, 2] * 4, 9, 3, 64)
    out, lse = ops.cascade_attention(*args, backend="cpu")
    ref_out, ref_lse = ops_reference.cascade_attention(*args)
    np.testing.assert_allclose(out, ref_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL, atol=ATOL)


def test_offsets_may_be_lists_or_int32():
    args = list(make_group(np.random.default_rng(16), 8, [2, 3], [1, 2], 2, 1, 4))
    expected = ops.cascade_attention(*args, backend="numpy")
    args[5], args[6] = [0, 1, 3], args[6].astype(np.int32)
    for backend in [b for b in ops.available_backends() if b != "cuda"]:
        out, lse = ops.cascade_attention(*args, backend=backend)
        np.testing.assert_allclose(out, expected[0], rtol=RTOL, atol=ATOL)


def test_offsets_from_lengths():
    np.testing.assert_array_equal(ops.offsets_from_lengths([3, 0, 2]), [0, 3, 3, 5])
    assert ops.offsets_from_lengths([]).tolist() == [0]
    with pytest.raises(ValueError, match="non-negative integers"):
        ops.offsets_from_lengths([1, -2])


# ---- bad input ----------------------------------------------------------------------------------


def _good():
    return list(make_group(np.random.default_rng(2), 4, [3, 2], [2, 1], 4, 2, 8))


def _with(index, value):
    def make(args):
        args[index] = value(args[index]) if callable(value) else value
        return args

    return make


BAD_INPUTS = [
    ("q-dtype", _with(0, lambda q: q.astype(np.float64)), "q must be a C-contiguous float32"),
    ("q-list", _with(0, lambda q: q.tolist()), "q must be a numpy float32 array"),
    ("q-2d", _with(0, lambda q: q[0]), r"q must be .*\(\*, \*, \*\), got shape \(4, 8\)"),
    ("q-view", _with(0, lambda q: np.ones((3, 4, 16), np.float32)[:, :, ::2]), "q must be .*non-contiguous"),
    ("head_dim-0", _with(0, lambda q: np.zeros((3, 4, 0), np.float32)), "q has head_dim 0"),
    ("k_prefix-dim", _with(1, lambda k: k[:, :, :4].copy()), r"k_prefix .*\(\*, \*, 8\), got shape \(4, 2, 4\)"),
    ("gqa", _with(1, np.zeros((4, 3, 8), np.float32)), r"q_heads = 4 \(q.shape\[1\]\) must be a multiple of kv_heads = 3"),
    ("v_prefix-len", _with(2, lambda v: v[:3].copy()), r"v_prefix .*\(4, 2, 8\), got shape \(3, 2, 8\)"),
    ("v_prefix-dtype", _with(2, lambda v: v.astype(np.float16)), "v_prefix must be a .*float32 .* got dtype float16"),
    ("k_suffix-heads", _with(3, np.zeros((5, 1, 8), np.float32)), r"k_suffix .*\(\*, 2, 8\), got shape \(5, 1, 8\)"),
    ("v_suffix-len", _with(4, lambda v: v[:4].copy()), r"v_suffix .*\(5, 2, 8\), got shape \(4, 2, 8\)"),
    ("q_offsets-float", _with(5, lambda o: o.astype(np.float64)), "q_offsets must be a C-contiguous int64"),
    ("q_offsets-empty", _with(5, np.zeros(0, np.int64)), "q_offsets must have num_seqs \\+ 1 entries, got none"),
    ("kv_offsets-count", _with(6, np.array([0, 5], np.int64)), r"kv_offsets .*\(3,\), got shape \(2,\)"),
    ("q_offsets-start", _with(5, np.array([1, 2, 3], np.int64)), r"q_offsets\[0\] must be 0, got 1"),
    ("q_offsets-order", _with(5, np.array([0, 3, 2], np.int64)), r"non-decreasing, but q_offsets\[2\] = 2 < q_offsets\[1\] = 3"),
    ("q_offsets-end", _with(5, np.array([0, 1, 2], np.int64)), r"q_offsets\[-1\] must equal q.shape\[0\] .* = 3, got 2"),
    ("kv_offsets-end", _with(6, np.array([0, 3, 6], np.int64)), r"kv_offsets\[-1\] must equal k_suffix.shape\[0\] .* 5, got 6"),
    ("causal", _with(6, np.array([0, 1, 5], np.int64)), "causal attention needs at least as many suffix tokens .* "
     "sequence 0 has 2 queries and 1 suffix tokens"),
]


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize(("case", "make", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs_raise_value_error_naming_the_argument(backend, case, make, message):
    skip_unless_available(backend)
    with pytest.raises(ValueError, match=message):
        ops.cascade_attention(*make(_good()), backend=backend)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_non_finite_scale_is_rejected(backend):
    skip_unless_available(backend)
    with pytest.raises(ValueError, match="scale must be a finite number"):
        ops.cascade_attention(*_good(), scale=float("nan"), backend=backend)


# ---- CUDA ---------------------------------------------------------------------------------------


def _cuda_module():
    try:
        return importlib.import_module("skyplex._C_cuda")
    except ImportError:
        pytest.skip("skyplex._C_cuda was not built (no CUDA compiler, or SKYPLEX_CUDA=OFF)")


def test_cuda_entry_points_check_arguments_without_a_device():
    """Argument checks run before any device work, so they hold on machines without a GPU too."""
    cuda = _cuda_module()
    args = _good()
    with pytest.raises(ValueError, match="q must be a C-contiguous float32 or float16 array"):
        cuda.cascade_attention(args[0].astype(np.float64), *args[1:])
    with pytest.raises(ValueError, match="k_prefix must be a C-contiguous float16"):
        cuda.cascade_attention(args[0].astype(np.float16), *args[1:])
    with pytest.raises(ValueError, match="head_dim 1..256"):
        big = make_group(np.random.default_rng(3), 2, [1], [1], 1, 1, 300)
        cuda.cascade_attention(*big)
    ptr_shape = dict(num_seqs=1, total_q=1, prefix_len=1, q_heads=2, kv_heads=1, head_dim=8, max_queries_per_seq=1)
    with pytest.raises(ValueError, match="q is a null pointer"):
        cuda.cascade_attention_ptr(0, 1, 1, 1, 1, 1, 1, 1, 1, **ptr_shape)
    with pytest.raises(ValueError, match="dtype must be 'float32', 'float16' or 'bfloat16'"):
        cuda.cascade_attention_ptr(1, 1, 1, 1, 1, 1, 1, 1, 1, **ptr_shape, dtype="int8")
    with pytest.raises(ValueError, match="multiple of kv_heads"):
        cuda.cascade_attention_ptr(1, 1, 1, 1, 1, 1, 1, 1, 1, **{**ptr_shape, "kv_heads": 3})
    if cuda.device_count() == 0:
        with pytest.raises(RuntimeError, match="no usable CUDA device"):
            cuda.cascade_attention(*args)


@pytest.mark.gpu
@pytest.mark.parametrize("case", DECODE + PREFILL, ids=case_id)
def test_cuda_float16_inputs(case):
    """float16 q/k/v, float32 accumulation: equal to the reference on the same rounded inputs."""
    skip_unless_available("cuda")
    prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim = case
    rng = np.random.default_rng(4)
    args = make_group(rng, prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim, np.float16)
    out, lse = ops._compiled("_C_cuda").cascade_attention(*args)
    ref_out, ref_lse = naive_per_sequence(*args, causal=True)
    np.testing.assert_allclose(out, ref_out, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_cuda_pointer_entry_with_torch_tensors(dtype):
    """The raw-pointer entry on torch CUDA tensors, bfloat16 included (NumPy has no bfloat16)."""
    skip_unless_available("cuda")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA support here")
    prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim = PREFILL[0]
    args = make_group(np.random.default_rng(5), prefix_len, suffix_lens, queries, q_heads, kv_heads, head_dim)
    tdtype = getattr(torch, dtype)
    tensors = [torch.from_numpy(a).to("cuda", tdtype) for a in args[:5]]
    offsets = [torch.from_numpy(a).cuda() for a in args[5:]]
    rounded = [t.float().cpu().numpy() for t in tensors]  # the reference sees the same rounded inputs
    out = torch.empty((sum(queries), q_heads, head_dim), device="cuda", dtype=torch.float32)
    lse = torch.empty((sum(queries), q_heads), device="cuda", dtype=torch.float32)
    stream = torch.cuda.current_stream()
    ops.cascade_attention_cuda_ptr(
        *(t.data_ptr() for t in tensors + offsets),
        out.data_ptr(),
        lse.data_ptr(),
        num_seqs=len(queries),
        total_q=sum(queries),
        prefix_len=prefix_len,
        q_heads=q_heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        max_queries_per_seq=max(queries),
        dtype=dtype,
        stream=stream.cuda_stream,
    )
    stream.synchronize()
    ref_out, ref_lse = naive_per_sequence(*rounded, *args[5:], causal=True)
    tol = 1e-5 if dtype == "float32" else 1e-3
    np.testing.assert_allclose(out.cpu().numpy(), ref_out, rtol=tol, atol=tol)
    np.testing.assert_allclose(lse.cpu().numpy(), ref_lse, rtol=tol, atol=tol)
