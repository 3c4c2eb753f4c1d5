"""Witness generation front end: quantise, run the compiled kernel (or the reference), check.

The compiled kernels live in csrc/ and are reached through :mod:`skyplex.ops`; the big-integer
reference in :mod:`.fixedpoint` is the specification they must match bit for bit.
"""

from __future__ import annotations

import functools

import numpy as np

from . import fixedpoint

Trace = dict[str, np.ndarray]


def quantize(values: np.ndarray, frac_bits: int) -> np.ndarray:
    """Real numbers to int64 at scale ``2**frac_bits``, rounding half up (as ``rdiv`` does)."""
    q = np.floor(np.asarray(values, dtype=np.float64) * (1 << frac_bits) + 0.5)
    if np.any(np.abs(q) >= fixedpoint.VALUE_BOUND):
        raise ValueError(f"values up to {np.abs(values).max():.3g} do not fit the fixed-point range at frac_bits={frac_bits}")
    return q.astype(np.int64)


def one_hot(labels: np.ndarray, classes: int, frac_bits: int) -> np.ndarray:
    """Integer labels ``[..., batch]`` to one-hot rows at scale ``2**frac_bits`` (int64)."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must be in [0, {classes}), got values in [{labels.min()}, {labels.max()}]")
    return (np.eye(classes, dtype=np.int64)[labels] << frac_bits).astype(np.int64)


def lr_to_q(lr: float, batch: int, frac_bits: int) -> int:
    """The update's integer multiplier: ``round(lr / batch * SF)`` (mean gradient over the batch)."""
    q = int(np.floor(lr / batch * (1 << frac_bits) + 0.5))
    if q <= 0:
        raise ValueError(f"learning rate {lr} with batch {batch} rounds to 0 at frac_bits={frac_bits}; raise lr or frac_bits")
    return q


@functools.lru_cache(maxsize=8)
def exp_table(frac_bits: int) -> np.ndarray:
    """The public exp lookup table as int64 (see :func:`fixedpoint.exp_table`); cached, read-only."""
    table = np.asarray(fixedpoint.exp_table(frac_bits), dtype=np.int64)
    table.flags.writeable = False  # shared between calls
    return table


def _as_lists(a: np.ndarray) -> list:
    return [[int(v) for v in row] for row in a]


def reference_trace(x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray | None, *, lr_q: int,
                    frac_bits: int) -> Trace:
    """The pure-Python trace in the kernels' layout (``{field: int64 [steps, n]}``).

    Raises :class:`fixedpoint.WitnessOverflowError` where the kernels raise ``OverflowError``.
    """
    params = [_as_lists(w1)] + ([] if w2 is None else [_as_lists(w2)])
    raw = fixedpoint.sgd_trace([_as_lists(b) for b in x], [_as_lists(b) for b in y], params, lr_q, frac_bits)
    out: Trace = {}
    for name, steps in raw.items():
        flat = [list(_flatten(s)) for s in steps]
        out[name] = np.array(flat, dtype=np.int64).reshape(len(steps), -1)
    return out


def _flatten(v):
    if isinstance(v, list):
        for item in v:
            yield from _flatten(item)
    else:
        yield v


def compute_trace(x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray | None = None, *, lr_q: int,
                  frac_bits: int, backend: str | None = None) -> Trace:
    """The exact trace: ``backend`` ``"python"`` for the reference, else a :mod:`skyplex.ops` backend."""
    if backend == "python":
        return reference_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=frac_bits)
    from skyplex import ops

    return ops.fixed_point_sgd(x, y, w1, w2, exp_table(frac_bits), lr_q=lr_q, frac_bits=frac_bits, backend=backend)


def check_trace(x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray | None, trace: Trace, *, lr_q: int,
                frac_bits: int) -> str:
    """Every constraint of ``trace`` checked (compiled checker); ``""`` or the first violation."""
    from skyplex import ops

    return ops.check_fixed_point_sgd(x, y, w1, w2, exp_table(frac_bits), trace, lr_q=lr_q, frac_bits=frac_bits)


def final_weights(trace: Trace, shape_w1: tuple[int, int], shape_w2: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The weights after the last step, reshaped."""
    if shape_w2 is None:
        return [trace["w_new"][-1].reshape(shape_w1)]
    return [trace["w1_new"][-1].reshape(shape_w1), trace["w2_new"][-1].reshape(shape_w2)]
