"""Attention for the local backend: PyTorch SDPA with grouped-query heads kept grouped.

SmolLM2 has 9 query heads sharing 3 key/value heads. Given a padding mask (which every batch of
uneven prompts has), transformers' stock "sdpa" path first copies each key/value head three times
(``repeat_kv``) and then runs masked SDPA on the copies. PyTorch's SDPA can read the shared heads
directly (``enable_gqa=True``) with the same mask, which on CPU made a 16-prompt shared-prefix batch
decode 1.4-1.8x faster with identical greedy outputs (benchmarks/kernel_local_backend.py).
"""

from __future__ import annotations

from typing import Any

#: the name this attention is registered under in transformers' attention registry
ATTN_IMPLEMENTATION = "skyplex_gqa_sdpa"


def gqa_sdpa_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Same contract and arithmetic as transformers' SDPA attention, without materialised KV copies.

    query [B, Hq, T, D], key/value [B, Hkv, S, D] with Hq a multiple of Hkv; returns [B, T, Hq, D].
    """
    import torch

    if is_causal is None:
        is_causal = getattr(module, "is_causal", True)
    # an explicit mask already encodes causality; SDPA refuses both at once
    causal = bool(is_causal) and attention_mask is None and query.shape[2] > 1
    out = torch.nn.functional.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        is_causal=causal,
        enable_gqa=key.shape[1] != query.shape[1],
    )
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register the attention (and the SDPA-style mask it expects) with transformers; idempotent."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, gqa_sdpa_attention)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, sdpa_mask)
    return ATTN_IMPLEMENTATION
