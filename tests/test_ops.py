"""The compiled ops against their NumPy references, and how skyplex.ops picks a backend."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys

import numpy as np
import pytest

from skyplex import ops, ops_reference

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(autouse=True)
def fresh_backend_cache(monkeypatch):
    """Each test sees its own environment: no inherited override, no cached module lookups."""
    monkeypatch.delenv(ops.ENV_VAR, raising=False)
    ops._compiled.cache_clear()
    ops._cuda_device_count.cache_clear()
    yield
    ops._compiled.cache_clear()
    ops._cuda_device_count.cache_clear()


def partials(rng: np.random.Generator, tokens: int, heads: int, head_dim: int, lse_scale: float = 5.0):
    """Random partial outputs and log-sum-exps, float32 and contiguous, as attention would give."""
    oa = rng.standard_normal((tokens, heads, head_dim), dtype=np.float32)
    ob = rng.standard_normal((tokens, heads, head_dim), dtype=np.float32)
    la = (rng.standard_normal((tokens, heads)) * lse_scale).astype(np.float32)
    lb = (rng.standard_normal((tokens, heads)) * lse_scale).astype(np.float32)
    return oa, la, ob, lb


def compiled_backends() -> list[str]:
    return [b for b in ops.available_backends() if b != "numpy"]


ALL_BACKENDS = ["numpy", "cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def skip_unless_available(name: str) -> None:
    if name not in ops.available_backends():
        pytest.skip(f"ops backend {name!r} is not available here (available: {ops.available_backends()})")


# ---- correctness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (3, 2, 5), (17, 4, 64), (64, 8, 128), (0, 4, 8), (5, 3, 0), (300, 12, 96)]
)
def test_merge_matches_reference(backend, shape):
    skip_unless_available(backend)
    rng = np.random.default_rng(sum(shape))
    oa, la, ob, lb = partials(rng, *shape)
    o, lse = ops.merge_attn_states(oa, la, ob, lb, backend=backend)
    ref_o, ref_lse = ops_reference.merge_attn_states(oa, la, ob, lb)
    assert o.dtype == np.float32 and lse.dtype == np.float32
    assert o.shape == shape and lse.shape == shape[:2]
    np.testing.assert_allclose(o, ref_o, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, ref_lse, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_merge_is_stable_for_huge_lse(backend):
    """Shifting by the larger lse means no exp overflows, however large the scores."""
    skip_unless_available(backend)
    oa, la, ob, lb = partials(np.random.default_rng(0), 8, 2, 16)
    la += 1e4
    lb -= 1e4  # a is all that matters
    o, lse = ops.merge_attn_states(oa, la, ob, lb, backend=backend)
    assert np.isfinite(o).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(o, oa, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse, la, rtol=RTOL)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("split", [0, 1, 7, 19, 20])
def test_merged_partial_attention_equals_full_attention(backend, split):
    """Attending over [prefix KV] and [suffix KV] separately and merging is attention over both."""
    skip_unless_available(backend)
    rng = np.random.default_rng(split)
    tokens, keys, heads, head_dim = 6, 20, 4, 32
    q = rng.standard_normal((tokens, heads, head_dim), dtype=np.float32)
    k = rng.standard_normal((keys, heads, head_dim), dtype=np.float32) * 2
    v = rng.standard_normal((keys, heads, head_dim), dtype=np.float32)
    o_prefix, lse_prefix = ops_reference.attention(q, k[:split], v[:split])
    o_suffix, lse_suffix = ops_reference.attention(q, k[split:], v[split:])
    o, lse = ops.merge_attn_states(o_prefix, lse_prefix, o_suffix, lse_suffix, backend=backend)
    o_full, lse_full = ops_reference.attention(q, k, v)
    np.testing.assert_allclose(o, o_full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lse, lse_full, rtol=1e-5, atol=1e-5)


def test_reference_attention_is_softmax_attention():
    """The naive helper itself: one query, one head, checked by hand."""
    q = np.array([[[1.0, 0.0]]], np.float32)
    k = np.array([[[1.0, 0.0]], [[0.0, 1.0]]], np.float32)
    v = np.array([[[2.0, 0.0]], [[0.0, 4.0]]], np.float32)
    o, lse = ops_reference.attention(q, k, v, scale=1.0)
    w = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    np.testing.assert_allclose(o[0, 0], [2 * w[0], 4 * w[1]], rtol=1e-6)
    np.testing.assert_allclose(lse[0, 0], np.log(np.e + 1.0), rtol=1e-6)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_empty_sides(backend):
    """-inf marks an empty partial: it contributes nothing even if its output is NaN (0/0)."""
    skip_unless_available(backend)
    oa, la, ob, lb = partials(np.random.default_rng(1), 4, 1, 8)
    la[0], lb[0] = -np.inf, 0.5  # only b
    la[1], lb[1] = 2.0, -np.inf  # only a
    la[2], lb[2] = -np.inf, -np.inf  # neither
    oa[0] = np.nan  # garbage in the empty sides must not leak
    ob[1] = np.nan
    oa[2] = np.nan
    ob[2] = np.inf
    o, lse = ops.merge_attn_states(oa, la, ob, lb, backend=backend)
    np.testing.assert_array_equal(o[0], ob[0])
    np.testing.assert_array_equal(o[1], oa[1])
    np.testing.assert_array_equal(o[2], np.zeros_like(o[2]))
    assert lse[0, 0] == np.float32(0.5) and lse[1, 0] == np.float32(2.0)
    assert np.isneginf(lse[2, 0])
    np.testing.assert_allclose(o[3], ops_reference.merge_attn_states(oa, la, ob, lb)[0][3], rtol=RTOL, atol=ATOL)


# ---- bad input ----------------------------------------------------------------------------------


def _good():
    return partials(np.random.default_rng(2), 3, 2, 4)


BAD_INPUTS = [
    ("oa", lambda oa, la, ob, lb: (oa.astype(np.float64), la, ob, lb), "oa must be a C-contiguous float32"),
    ("ob", lambda oa, la, ob, lb: (oa, la, ob[:, :1], lb), r"ob .*\(3, 2, 4\), got shape \(3, 1, 4\)"),
    ("la", lambda oa, la, ob, lb: (oa, la[:2], ob, lb), r"la .*\[tokens, heads\] = \(3, 2\), got shape \(2, 2\)"),
    ("lb", lambda oa, la, ob, lb: (oa, la, ob, lb.T.copy()), r"lb .*got shape \(2, 3\)"),
    ("oa-view", lambda oa, la, ob, lb: (np.ones((3, 2, 8), np.float32)[:, :, ::2], la, ob, lb), "non-contiguous"),
    ("oa-list", lambda oa, la, ob, lb: (oa.tolist(), la, ob, lb), "oa must be a numpy float32 array"),
    ("oa-2d", lambda oa, la, ob, lb: (oa[0], la, ob, lb), r"oa .*\(\*, \*, \*\), got shape \(2, 4\)"),
]


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize(("case", "make", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs_raise_value_error_naming_the_argument(backend, case, make, message):
    skip_unless_available(backend)
    with pytest.raises(ValueError, match=message):
        ops.merge_attn_states(*make(*_good()), backend=backend)


# ---- backend selection --------------------------------------------------------------------------


def test_default_backend_is_the_best_available():
    available = ops.available_backends()
    assert available[-1] == "numpy"
    assert ops.backend() == available[0]
    assert ("cuda" in available) == (ops._cuda_device_count() > 0)


def test_env_override(monkeypatch):
    monkeypatch.setenv(ops.ENV_VAR, "numpy")
    assert ops.backend() == "numpy"
    monkeypatch.setenv(ops.ENV_VAR, "CPU ")
    if "cpu" in ops.available_backends():
        assert ops.backend() == "cpu"
    monkeypatch.setenv(ops.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="unknown ops backend SKYPLEX_OPS_BACKEND='tpu'; choose one of"):
        ops.backend()


def test_env_override_applies_to_ops(monkeypatch):
    monkeypatch.setenv(ops.ENV_VAR, "numpy")
    # a NumPy-backend result is the reference's, to the bit
    args = _good()
    np.testing.assert_array_equal(ops.merge_attn_states(*args)[0], ops_reference.merge_attn_states(*args)[0])


def test_cuda_requested_without_a_device_is_a_clear_error(monkeypatch):
    if "cuda" in ops.available_backends():
        pytest.skip("a CUDA device is present")
    monkeypatch.setenv(ops.ENV_VAR, "cuda")
    with pytest.raises(ops.OpsBackendError, match="ops backend 'cuda' requested .* CUDA cannot run here"):
        ops.backend()
    monkeypatch.delenv(ops.ENV_VAR)
    with pytest.raises(ops.OpsBackendError, match="backend='cuda'"):
        ops.merge_attn_states(*_good(), backend="cuda")


def test_numpy_fallback_when_C_is_missing(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "skyplex._C", None)  # makes `import skyplex._C` raise ImportError
    monkeypatch.setitem(sys.modules, "skyplex._C_cuda", None)
    with caplog.at_level(logging.WARNING, logger="skyplex.ops"):
        assert ops.available_backends() == ["numpy"]
        assert ops.backend() == "numpy"
        o, lse = ops.merge_attn_states(*_good())
    assert o.shape == (3, 2, 4) and lse.shape == (3, 2)
    assert "skyplex._C is not built" in caplog.text
    with pytest.raises(ops.OpsBackendError, match="skyplex._C is not built"):
        ops.merge_attn_states(*_good(), backend="cpu")


def test_import_is_cheap():
    """Importing skyplex.ops loads no compiled module and no torch."""
    code = (
        "import sys, skyplex.ops; "
        "print(any(m in sys.modules for m in ('torch', 'skyplex._C', 'skyplex._C_cuda')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cpu_module_reports_openmp():
    skip_unless_available("cpu")
    assert isinstance(importlib.import_module("skyplex._C").has_openmp(), bool)


# ---- the CUDA module ----------------------------------------------------------------------------


def test_cuda_module_imports_without_a_device():
    """When built, _C_cuda imports anywhere (static cudart) and counts devices without crashing."""
    try:
        cuda = importlib.import_module("skyplex._C_cuda")
    except ImportError:
        pytest.skip("skyplex._C_cuda was not built (no CUDA compiler, or SKYPLEX_CUDA=OFF)")
    count = cuda.device_count()
    assert isinstance(count, int) and count >= 0
    if count == 0:
        assert cuda.device_status()  # says why
        assert ops.backend() != "cuda"
        with pytest.raises(RuntimeError, match="no usable CUDA device"):
            cuda.merge_attn_states(*_good())
    # argument checks run before any device work, so they work without a GPU too
    oa, la, ob, lb = _good()
    with pytest.raises(ValueError, match="la must be"):
        cuda.merge_attn_states(oa, la[:1], ob, lb)
    with pytest.raises(ValueError, match="oa is a null pointer"):
        cuda.merge_attn_states_ptr(0, 1, 1, 1, 1, 1, 1, 1, 1)


@pytest.mark.gpu
def test_cuda_pointer_entry_with_device_buffers():
    """The raw-pointer entry on device memory, through torch when it is installed with CUDA."""
    if ops.backend() != "cuda":
        pytest.skip("needs a CUDA device (skyplex.ops.backend() is not 'cuda')")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA support here")
    oa, la, ob, lb = partials(np.random.default_rng(3), 33, 4, 64)
    t = [torch.from_numpy(x).cuda() for x in (oa, la, ob, lb)]
    o = torch.empty_like(t[0])
    lse = torch.empty_like(t[1])
    stream = torch.cuda.current_stream()
    ops.merge_attn_states_cuda_ptr(
        *(x.data_ptr() for x in t), o.data_ptr(), lse.data_ptr(), 33, 4, 64, stream=stream.cuda_stream
    )
    stream.synchronize()
    ref_o, ref_lse = ops_reference.merge_attn_states(oa, la, ob, lb)
    np.testing.assert_allclose(o.cpu().numpy(), ref_o, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lse.cpu().numpy(), ref_lse, rtol=RTOL, atol=ATOL)
