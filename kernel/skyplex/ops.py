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


def _check_merge_inputs(oa: Any, la: Any, ob: Any, lb: Any) -> None:
    """The compiled bindings' argument checks, for the NumPy backend, with the same messages."""
    out_dims, lse_dims = "[tokens, heads, head_dim]", "[tokens, heads]"
    _check_float32("oa", oa, None, out_dims)
    tokens, heads, head_dim = oa.shape
    _check_float32("ob", ob, (tokens, heads, head_dim), out_dims)
    _check_float32("la", la, (tokens, heads), lse_dims)
    _check_float32("lb", lb, (tokens, heads), lse_dims)


def _check_float32(arg: str, x: Any, shape: tuple[int, ...] | None, dims: str) -> None:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{arg} must be a numpy float32 array of shape {dims}, got {type(x).__name__}")
    want = f"{arg} must be a C-contiguous float32 array of shape {dims}"
    if x.dtype != np.float32:
        raise ValueError(f"{want}, got dtype {x.dtype} (convert with np.ascontiguousarray(x, dtype=np.float32))")
    expected = shape if shape is not None else (None,) * 3
    if x.ndim != len(expected) or any(e is not None and s != e for s, e in zip(x.shape, expected)):
        shown = tuple("*" if e is None else e for e in expected)
        raise ValueError(f"{want} = {_fmt(shown)}, got shape {_fmt(x.shape)}")
    if not x.flags.c_contiguous:
        raise ValueError(f"{want}, got a non-contiguous view (use np.ascontiguousarray)")


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")
