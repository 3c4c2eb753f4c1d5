"""NumPy references for the compiled ops in ``skyplex.ops``: slow, obvious, and the ground truth in tests.

Also the last-resort backend of ``skyplex.ops`` when the compiled module is missing.
"""

from __future__ import annotations

import math

import numpy as np


def merge_attn_states(
    oa: np.ndarray, la: np.ndarray, ob: np.ndarray, lb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two partial attention results over disjoint key sets through their log-sum-exps.

    ``oa``, ``ob`` are ``[tokens, heads, head_dim]`` outputs, ``la``, ``lb`` their ``[tokens, heads]``
    log-sum-exps. Returns ``(o, lse)`` with ``o = sigmoid(la - lb) * oa + sigmoid(lb - la) * ob`` and
    ``lse = logaddexp(la, lb)``, computed in float64 and returned as float32. A side with lse -inf
    (no keys) contributes nothing, whatever its output holds; both -inf gives zeros and -inf.
    """
    la64 = np.asarray(la, dtype=np.float64)
    lb64 = np.asarray(lb, dtype=np.float64)
    m = np.maximum(la64, lb64)
    empty = np.isneginf(m)
    shift = np.where(empty, 0.0, m)  # avoid -inf - -inf = nan; those rows are overwritten below
    ea = np.exp(la64 - shift)
    eb = np.exp(lb64 - shift)
    total = np.where(empty, 1.0, ea + eb)
    wa = (ea / total)[..., None]
    wb = (eb / total)[..., None]
    # a zero weight must not multiply its output: an empty partial's output may be NaN (0/0)
    with np.errstate(invalid="ignore"):  # 0 * inf in the discarded branch
        part_a = np.where(wa > 0, wa * np.asarray(oa, dtype=np.float64), 0.0)
        part_b = np.where(wb > 0, wb * np.asarray(ob, dtype=np.float64), 0.0)
    lse = np.where(empty, -np.inf, np.logaddexp(la64, lb64))
    return (part_a + part_b).astype(np.float32), lse.astype(np.float32)


def attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, *, scale: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Naive attention of every query over every key, with the log-sum-exp of the scores.

    ``q`` is ``[tokens, heads, head_dim]``, ``k`` and ``v`` are ``[keys, heads, head_dim]`` (no mask:
    each query sees all keys). Returns ``(o, lse)``: ``o = softmax(q k^T * scale) v`` as
    ``[tokens, heads, head_dim]`` and ``lse = logsumexp(q k^T * scale)`` as ``[tokens, heads]``, both
    float32, computed in float64. ``scale`` defaults to ``1 / sqrt(head_dim)``. With zero keys the
    output is zeros and the lse is -inf, which is what :func:`merge_attn_states` expects of an empty side.
    """
    q64, k64, v64 = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    tokens, heads, head_dim = q64.shape
    if k64.shape[0] == 0:
        return np.zeros((tokens, heads, head_dim), np.float32), np.full((tokens, heads), -np.inf, np.float32)
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    scores = np.einsum("thd,shd->ths", q64, k64) * scale  # [tokens, heads, keys]
    peak = scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores - peak)
    total = weights.sum(axis=-1, keepdims=True)
    o = np.einsum("ths,shd->thd", weights / total, v64)
    lse = (peak + np.log(total))[..., 0]
    return o.astype(np.float32), lse.astype(np.float32)
