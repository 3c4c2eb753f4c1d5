"""Prefix-cache counters of a vLLM server: the kernel's parser (:mod:`skyplex.models.vllm_metrics`).

Kept as a module of its own so LLM-SQL's callers (and tests that replace :func:`scrape`) keep working.
"""

from __future__ import annotations

from skyplex.models.vllm_metrics import (
    HITS,
    PROMPT_TOKENS,
    QUERIES,
    RATE_V0,
    PrefixCacheCounters,
    Sample,
    metrics_url,
    parse_prometheus,
    prefix_cache_counters,
    scrape,
)

__all__ = [
    "HITS",
    "PROMPT_TOKENS",
    "QUERIES",
    "RATE_V0",
    "PrefixCacheCounters",
    "Sample",
    "metrics_url",
    "parse_prometheus",
    "prefix_cache_counters",
    "scrape",
]
