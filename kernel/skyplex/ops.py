"""The one Python face of the compiled ops (csrc/): picks CUDA, C++ or NumPy and checks the inputs.

Backends, best first:

- ``cuda``: ``skyplex._C_cuda``, used only when it imports *and* sees a device;
- ``cpu``: ``skyplex._C``, C++ with OpenMP, always built;
- ``numpy``: :mod:`skyplex.ops_reference`, used (with a logged warning) when ``_C`` is missing, e.g.
  when running from a source tree that was never built.

``SKYPLEX_OPS_BACKEND=cpu|cuda|numpy`` or ``backend=`` on a call overrides the choice; asking for a
backend that cannot run here is an error rather than a silent fallback. Importing this module loads
nothing: the compiled modules are imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from types import ModuleType
from typing import Any

import numpy as np

from .errors import InvalidInputError

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("cuda", "cpu", "numpy")
ENV_VAR = "SKYPLEX_OPS_BACKEND"


class OpsBackendError(RuntimeError):
    """A backend was asked for by name (argument or ``SKYPLEX_OPS_BACKEND``) but cannot run here."""


@functools.cache
def _compiled(name: str) -> ModuleType | None:
    """``skyplex.<name>`` or None when it was not built; the answer is cached per process."""
    try:
        return importlib.import_module(f"skyplex.{name}")
    except ImportError as exc:
        if name == "_C":
            log.warning(
                "skyplex._C is not built (%s); skyplex.ops falls back to slow NumPy code. "
                "Reinstall skyplex (pip install -e .) to build it.",
                exc,
            )
        else:
            log.debug("skyplex.%s is not available: %s", name, exc)
        return None


@functools.cache
def _cuda_device_count() -> int:
    cuda = _compiled("_C_cuda")
    return cuda.device_count() if cuda is not None else 0


def available_backends() -> list[str]:
    """Backends that can run here, best first; ``numpy`` is always last."""
    found = []
    if _cuda_device_count() > 0:
        found.append("cuda")
    if _compiled("_C") is not None:
        found.append("cpu")
    found.append("numpy")
    return found


def backend() -> str:
    """The backend ops use by default: ``SKYPLEX_OPS_BACKEND`` if set, else the best available."""
    requested = os.environ.get(ENV_VAR, "").strip().lower()
    if requested:
        return _checked_backend(requested, source=f"{ENV_VAR}={requested!r}")
    return available_backends()[0]


def _checked_backend(name: str, *, source: str) -> str:
    if name not in BACKENDS:
        raise InvalidInputError(f"unknown ops backend {source}; choose one of {', '.join(BACKENDS)}", field=ENV_VAR)
    if name == "cuda" and _cuda_device_count() == 0:
        cuda = _compiled("_C_cuda")
        why = "skyplex._C_cuda was not built (no nvcc at build time)" if cuda is None else cuda.device_status()
        raise OpsBackendError(f"ops backend 'cuda' requested ({source}) but CUDA cannot run here: {why}")
    if name == "cpu" and _compiled("_C") is None:
        raise OpsBackendError(f"ops backend 'cpu' requested ({source}) but skyplex._C is not built")
    return name


def _resolve(requested: str | None) -> str:
    if requested is None:
        return backend()
    return _checked_backend(requested.lower(), source=f"backend={requested!r}")


# ---- merge of partial attention results --------------------------------------------------------


def merge_attn_states(
    oa: np.ndarray, la: np.ndarray, ob: np.ndarray, lb: np.ndarray, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two partial attention results over disjoint key sets into attention over their union.

    ``oa``, ``ob``: float32 ``[tokens, heads, head_dim]`` outputs of attention over key sets A and B;
    ``la``, ``lb``: float32 ``[tokens, heads]`` log-sum-exps of the scores over A and B. All
    C-contiguous. Returns ``(o, lse)`` with ``o = sigmoid(la-lb)*oa + sigmoid(lb-la)*ob`` and
    ``lse = logaddexp(la, lb)``: exactly attention over A and B together, up to float32 rounding.
    An empty side (lse -inf) contributes nothing; both empty gives zeros and -inf.

    Raises :class:`ValueError` naming the argument when a dtype, shape or layout is wrong.
    """
    chosen = _resolve(backend)
    if chosen == "numpy":
        _check_merge_inputs(oa, la, ob, lb)
        from . import ops_reference

        return ops_reference.merge_attn_states(oa, la, ob, lb)
    module = _compiled("_C_cuda" if chosen == "cuda" else "_C")
    return module.merge_attn_states(oa, la, ob, lb)


def merge_attn_states_cuda_ptr(
    oa: int,
    la: int,
    ob: int,
    lb: int,
    o: int,
    lse: int,
    tokens: int,
    heads: int,
    head_dim: int,
    *,
    stream: int = 0,
) -> None:
    """The CUDA merge on device memory given by address, writing ``o`` and ``lse``; no copies.

    For callers holding GPU tensors (e.g. torch: ``t.data_ptr()`` and
    ``torch.cuda.current_stream().cuda_stream``). Buffers are contiguous float32 with the shapes of
    :func:`merge_attn_states`; they cannot be checked from addresses, so the caller guarantees them.
    Runs asynchronously on ``stream``.
    """
    _checked_backend("cuda", source="merge_attn_states_cuda_ptr")
    _compiled("_C_cuda").merge_attn_states_ptr(oa, la, ob, lb, o, lse, tokens, heads, head_dim, stream=stream)


# ---- prefix-sharing (cascade) attention ---------------------------------------------------------


def offsets_from_lengths(lengths: Any) -> np.ndarray:
    """``[0, l0, l0+l1, ...]`` as int64: the offsets of sequences of these lengths packed end to end."""
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and (lengths.dtype.kind not in "iu" or lengths.min() < 0)):
        raise ValueError(f"lengths must be a 1-D sequence of non-negative integers, got {lengths!r}")
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


def cascade_attention(
    q: np.ndarray,
    k_prefix: np.ndarray,
    v_prefix: np.ndarray,
    k_suffix: np.ndarray,
    v_suffix: np.ndarray,
    q_offsets: Any,
    kv_offsets: Any,
    *,
    causal: bool = True,
    scale: float | None = None,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Attention of a group of sequences that share a prompt prefix, computing the prefix part once.

    Sequence ``i`` of the group is ``[prefix || suffix_i]``; its ``M_i`` queries attend all of it.
    Layout (a ragged batch packed end to end, like flash-attention's ``cu_seqlens``):

    - ``q``: ``[total_q, q_heads, head_dim]``, float32 (float16 too on the ``cuda`` backend);
      sequence ``i``'s queries are rows ``q_offsets[i]:q_offsets[i+1]`` (1 per sequence when
      decoding, more for a prefill);
    - ``k_prefix``, ``v_prefix``: ``[prefix_len, kv_heads, head_dim]`` of q's dtype, shared (``prefix_len``
      may be 0);
    - ``k_suffix``, ``v_suffix``: ``[total_suffix, kv_heads, head_dim]`` of q's dtype; sequence ``i``'s own
      keys/values are rows ``kv_offsets[i]:kv_offsets[i+1]`` (``L_i`` of them, may be 0);
    - ``q_offsets``, ``kv_offsets``: integers ``[num_seqs + 1]`` starting at 0, non-decreasing, ending
      at ``total_q`` and ``total_suffix`` (:func:`offsets_from_lengths` builds them).

    ``q_heads`` must be a multiple of ``kv_heads`` (grouped-query attention: q head ``h`` reads kv
    head ``h // (q_heads // kv_heads)``). With ``causal`` (the default) a sequence's queries are the
    last ``M_i`` tokens of its suffix, so query ``j`` sees the whole prefix and suffix keys
    ``0 .. L_i - M_i + j``, which needs ``L_i >= M_i``; without it every query sees everything.
    ``scale`` defaults to ``1 / sqrt(head_dim)``.

    Returns ``(out, lse)``: float32 ``[total_q, q_heads, head_dim]`` and the natural-log
    log-sum-exp of each query's scores, float32 ``[total_q, q_heads]`` (zeros and -inf for a query
    that sees no key). Inside, all queries of the group meet the prefix as one matrix product per kv
    head, each sequence meets its own suffix, and the parts merge exactly through their lse (see
    :func:`merge_attn_states`); it equals attention over ``[prefix || suffix_i]`` per sequence up to
    float32 rounding. Raises :class:`ValueError` naming the argument when an input is wrong.
    """
    chosen = _resolve(backend)
    q_offsets = _as_offsets("q_offsets", q_offsets)
    kv_offsets = _as_offsets("kv_offsets", kv_offsets)
    args = (q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets)
    if chosen == "numpy":
        _check_cascade_inputs(*args, causal=causal, scale=scale)
        from . import ops_reference

        return ops_reference.cascade_attention(*args, causal=causal, scale=scale)
    module = _compiled("_C_cuda" if chosen == "cuda" else "_C")
    return module.cascade_attention(*args, causal=causal, scale=scale)


def cascade_attention_cuda_ptr(
    q: int,
    k_prefix: int,
    v_prefix: int,
    k_suffix: int,
    v_suffix: int,
    q_offsets: int,
    kv_offsets: int,
    out: int,
    lse: int,
    *,
    num_seqs: int,
    total_q: int,
    prefix_len: int,
    q_heads: int,
    kv_heads: int,
    head_dim: int,
    max_queries_per_seq: int,
    dtype: str = "float32",
    causal: bool = True,
    scale: float | None = None,
    stream: int = 0,
) -> None:
    """CUDA cascade attention on device memory given by address, writing ``out`` and ``lse``; no copies.

    For callers holding GPU tensors (torch: ``t.data_ptr()``, ``torch.cuda.current_stream().cuda_stream``).
    Same layout as :func:`cascade_attention`; ``q``, ``k_*``, ``v_*`` are ``dtype`` (``float32``,
    ``float16`` or ``bfloat16``), the offsets int64 on the device, ``out`` and ``lse`` float32.
    ``max_queries_per_seq`` (the largest ``M_i``) sizes the launch, so it must not be too small.
    Addresses cannot be checked, so the caller guarantees shapes, dtypes and valid offsets (with
    ``causal``, ``L_i >= M_i``). Runs asynchronously on ``stream``.
    """
    _checked_backend("cuda", source="cascade_attention_cuda_ptr")
    _compiled("_C_cuda").cascade_attention_ptr(
        *(q, k_prefix, v_prefix, k_suffix, v_suffix, q_offsets, kv_offsets, out, lse),
        num_seqs=num_seqs,
        total_q=total_q,
        prefix_len=prefix_len,
        q_heads=q_heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        max_queries_per_seq=max_queries_per_seq,
        dtype=dtype,
        causal=causal,
        scale=scale,
        stream=stream,
    )


def _as_offsets(arg: str, x: Any) -> Any:
    """Integer offsets of any integer dtype (or a list) as contiguous int64; anything else unchanged,
    so the backend's check names the argument."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
        return np.ascontiguousarray(x, dtype=np.int64)
    if isinstance(x, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in x):
        return np.asarray(x, dtype=np.int64).reshape(len(x))
    return x


def _check_cascade_inputs(
    q: Any,
    k_prefix: Any,
    v_prefix: Any,
    k_suffix: Any,
    v_suffix: Any,
    q_offsets: Any,
    kv_offsets: Any,
    *,
    causal: bool,
    scale: float | None,
) -> None:
    """The compiled bindings' cascade checks (csrc/bindings/cascade_args.h), same messages."""
    q_dims = "[tokens, q_heads, head_dim]"
    prefix_dims, suffix_dims = "[prefix_len, kv_heads, head_dim]", "[suffix_tokens, kv_heads, head_dim]"
    _check_array("q", q, (None, None, None), q_dims, np.float32)
    total_q, q_heads, dim = q.shape
    if dim == 0:
        raise ValueError("q has head_dim 0 (q.shape[2]); attention needs head_dim >= 1")
    _check_array("k_prefix", k_prefix, (None, None, dim), prefix_dims, np.float32)
    prefix_len, kv_heads = k_prefix.shape[:2]
    if kv_heads == 0 or q_heads % kv_heads:
        raise ValueError(
            f"q_heads = {q_heads} (q.shape[1]) must be a multiple of kv_heads = {kv_heads} (k_prefix.shape[1]): "
            "in grouped-query attention each kv head serves the same number of q heads"
        )
    _check_array("v_prefix", v_prefix, (prefix_len, kv_heads, dim), prefix_dims, np.float32)
    _check_array("k_suffix", k_suffix, (None, kv_heads, dim), suffix_dims, np.float32)
    _check_array("v_suffix", v_suffix, (k_suffix.shape[0], kv_heads, dim), suffix_dims, np.float32)
    _check_array("q_offsets", q_offsets, (None,), "[num_seqs + 1]", np.int64)
    if q_offsets.shape[0] == 0:
        raise ValueError("q_offsets must have num_seqs + 1 entries, got none (an empty group is [0])")
    _check_array("kv_offsets", kv_offsets, (q_offsets.shape[0],), "[num_seqs + 1]", np.int64)
    _check_offsets("q_offsets", q_offsets, total_q, "q.shape[0] (packed query tokens)")
    _check_offsets("kv_offsets", kv_offsets, k_suffix.shape[0], "k_suffix.shape[0] (packed suffix tokens)")
    if causal:
        for s, (m, n) in enumerate(zip(np.diff(q_offsets), np.diff(kv_offsets))):
            if n < m:
                raise ValueError(
                    "causal attention needs at least as many suffix tokens as queries in each sequence "
                    f"(the queries are the last tokens of the suffix), but sequence {s} has {m} queries and "
                    f"{n} suffix tokens; include the queries' own keys in k_suffix or pass causal=False"
                )
    if scale is not None and not np.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale}")


def _check_offsets(arg: str, off: np.ndarray, total: int, total_what: str) -> None:
    if off[0] != 0:
        raise ValueError(f"{arg}[0] must be 0, got {off[0]}")
    for i in range(1, len(off)):
        if off[i] < off[i - 1]:
            raise ValueError(
                f"{arg} must be non-decreasing, but {arg}[{i}] = {off[i]} < {arg}[{i - 1}] = {off[i - 1]}"
            )
    if off[-1] != total:
        raise ValueError(f"{arg}[-1] must equal {total_what} = {total}, got {off[-1]}")


def _check_merge_inputs(oa: Any, la: Any, ob: Any, lb: Any) -> None:
    """The compiled bindings' argument checks, for the NumPy backend, with the same messages."""
    out_dims, lse_dims = "[tokens, heads, head_dim]", "[tokens, heads]"
    _check_float32("oa", oa, None, out_dims)
    tokens, heads, head_dim = oa.shape
    _check_float32("ob", ob, (tokens, heads, head_dim), out_dims)
    _check_float32("la", la, (tokens, heads), lse_dims)
    _check_float32("lb", lb, (tokens, heads), lse_dims)


def _check_float32(arg: str, x: Any, shape: tuple[int, ...] | None, dims: str) -> None:
    _check_array(arg, x, shape if shape is not None else (None,) * 3, dims, np.float32)


def _check_array(arg: str, x: Any, shape: tuple[int | None, ...], dims: str, dtype: type) -> None:
    """The bindings' checked_array (csrc/bindings/arrays.h): type, dtype, shape (None: any), layout."""
    name = np.dtype(dtype).name
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{arg} must be a numpy {name} array of shape {dims}, got {type(x).__name__}")
    want = f"{arg} must be a C-contiguous {name} array of shape {dims}"
    if x.dtype != dtype:
        raise ValueError(f"{want}, got dtype {x.dtype} (convert with np.ascontiguousarray(x, dtype=np.{name}))")
    if x.ndim != len(shape) or any(e is not None and s != e for s, e in zip(x.shape, shape)):
        shown = tuple("*" if e is None else e for e in shape)
        raise ValueError(f"{want} = {_fmt(shown)}, got shape {_fmt(x.shape)}")
    if not x.flags.c_contiguous:
        raise ValueError(f"{want}, got a non-contiguous view (use np.ascontiguousarray)")


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


# ---- fixed-point SGD witness (ZK auditor) -------------------------------------------------------


def fixed_point_sgd(
    x: np.ndarray,
    y: np.ndarray,
    w1: np.ndarray,
    w2: np.ndarray | None,
    table: np.ndarray,
    *,
    lr_q: int,
    frac_bits: int,
    backend: str | None = None,
) -> dict[str, np.ndarray]:
    """Exact integer trace of ``steps`` chained fixed-point SGD steps (see csrc/include/skyplex/fixed_point_sgd.h).

    ``x`` int64 ``[steps, batch, in_dim]``, ``y`` int64 one-hot ``[steps, batch, classes]`` at scale
    ``2**frac_bits``, ``w1`` ``[in_dim, classes]`` (softmax regression, ``w2=None``) or
    ``[in_dim, hidden]`` with ``w2`` ``[hidden, classes]`` (MLP head), ``table`` the public exp table.
    Returns ``{field: int64 [steps, n]}``; raises ``OverflowError`` when a value leaves |v| < 2**52.
    The ``numpy`` backend has no pure-NumPy version of this op: use the big-integer reference
    ``skyplex_zkaudit.fixedpoint`` instead.
    """
    chosen = _resolve(backend)
    if chosen == "numpy":
        raise OpsBackendError("fixed_point_sgd needs the compiled ops (skyplex._C); reinstall skyplex to build them")
    module = _compiled("_C_cuda" if chosen == "cuda" else "_C")
    return module.fixed_point_sgd(x, y, w1, w2, table, lr_q=lr_q, frac_bits=frac_bits)


def check_fixed_point_sgd(
    x: np.ndarray,
    y: np.ndarray,
    w1: np.ndarray,
    w2: np.ndarray | None,
    table: np.ndarray,
    trace: dict[str, np.ndarray],
    *,
    lr_q: int,
    frac_bits: int,
) -> str:
    """Check every constraint of a :func:`fixed_point_sgd` trace on the CPU; ``""`` or the first violation."""
    _checked_backend("cpu", source="check_fixed_point_sgd")
    return _compiled("_C").check_fixed_point_sgd(x, y, w1, w2, table, lr_q=lr_q, frac_bits=frac_bits, trace=trace)
