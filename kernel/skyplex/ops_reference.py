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
    q: np.ndarray, k: np.ndarray, v: np.ndarray, *, scale: float | None = None, causal: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Naive attention of every query over every key, with the log-sum-exp of the scores.

    ``q`` is ``[tokens, heads, head_dim]``, ``k`` and ``v`` are ``[keys, kv_heads, head_dim]`` where
    ``heads`` is a multiple of ``kv_heads`` (grouped-query attention: q head ``h`` reads kv head
    ``h // (heads // kv_heads)``). Without ``causal`` each query sees all keys; with it the queries are
    the last ``tokens`` positions of the key sequence and query ``t`` sees keys
    ``0 .. keys - tokens + t`` (itself and everything before). Returns ``(o, lse)``:
    ``o = softmax(q k^T * scale) v`` as ``[tokens, heads, head_dim]`` and
    ``lse = logsumexp(q k^T * scale)`` as ``[tokens, heads]``, both float32, computed in float64.
    ``scale`` defaults to ``1 / sqrt(head_dim)``. A query that sees no key gets zeros and an lse of
    -inf, which is what :func:`merge_attn_states` expects of an empty side.
    """
    q64, k64, v64 = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    tokens, heads, head_dim = q64.shape
    keys, kv_heads = k64.shape[:2]
    if keys == 0 or tokens == 0:
        return np.zeros((tokens, heads, head_dim), np.float32), np.full((tokens, heads), -np.inf, np.float32)
    group = heads // kv_heads
    k64, v64 = np.repeat(k64, group, axis=1), np.repeat(v64, group, axis=1)  # one kv copy per q head
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    scores = np.einsum("thd,shd->ths", q64, k64) * scale  # [tokens, heads, keys]
    if causal:
        visible = np.arange(keys)[None, :] <= (keys - tokens + np.arange(tokens))[:, None]  # [tokens, keys]
        scores = np.where(visible[:, None, :], scores, -np.inf)
    peak = scores.max(axis=-1, keepdims=True)
    seen = np.isfinite(peak)  # False for a query that sees no key at all
    weights = np.exp(scores - np.where(seen, peak, 0.0))
    total = weights.sum(axis=-1, keepdims=True)
    o = np.einsum("ths,shd->thd", weights / np.where(seen, total, 1.0), v64)
    lse = np.where(seen, peak + np.log(np.where(seen, total, 1.0)), -np.inf)[..., 0]
    return o.astype(np.float32), lse.astype(np.float32)


def cascade_attention(
    q: np.ndarray,
    k_prefix: np.ndarray,
    v_prefix: np.ndarray,
    k_suffix: np.ndarray,
    v_suffix: np.ndarray,
    q_offsets: np.ndarray,
    kv_offsets: np.ndarray,
    *,
    causal: bool = True,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prefix-sharing attention the obvious way, from :func:`attention` and :func:`merge_attn_states`.

    The layout is :func:`skyplex.ops.cascade_attention`'s. All queries of the group attend the shared
    prefix in one call (no mask: the prefix precedes every query), each sequence's queries attend its
    own suffix (causal inside it when asked), and the two parts are merged through their lse.
    """
    o_prefix, lse_prefix = attention(q, k_prefix, v_prefix, scale=scale)
    o_suffix = np.zeros_like(o_prefix)
    lse_suffix = np.full_like(lse_prefix, -np.inf)
    for s in range(len(q_offsets) - 1):
        qs = slice(int(q_offsets[s]), int(q_offsets[s + 1]))
        ks = slice(int(kv_offsets[s]), int(kv_offsets[s + 1]))
        o_suffix[qs], lse_suffix[qs] = attention(q[qs], k_suffix[ks], v_suffix[ks], scale=scale, causal=causal)
    return merge_attn_states(o_prefix, lse_prefix, o_suffix, lse_suffix)
