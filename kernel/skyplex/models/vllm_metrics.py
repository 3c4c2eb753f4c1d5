"""What a vLLM server reports on its Prometheus ``/metrics`` endpoint: prefix-cache hits, queue, KV use.

A vLLM OpenAI-compatible server started with ``--enable-prefix-caching`` counts, in tokens, how
many prompt tokens it looked up in its prefix cache and how many it found:

- vLLM V1 engine: counters ``vllm:prefix_cache_queries_total`` and ``vllm:prefix_cache_hits_total``
  (one series per ``model_name`` / ``engine`` label set);
- older V0 engine: gauge ``vllm:gpu_prefix_cache_hit_rate`` (a running rate, blocks not tokens).

Counters are cumulative, so a query's hit rate is the difference of two scrapes:
:func:`scrape` before, :func:`scrape` after, :meth:`PrefixCacheCounters.since`. Other traffic on
the same server in between is counted too; measure on a quiet server.

Gauges (read as they are at the scrape, see :func:`server_metrics`): requests running and waiting
(``vllm:num_requests_running``, ``vllm:num_requests_waiting``) and the fraction of the KV cache in
use (``vllm:kv_cache_usage_perc``; ``vllm:gpu_cache_usage_perc`` on older servers).

The ``vllm`` model backend and the LLM-SQL plugin both read servers through this module.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import InvalidInputError

QUERIES = "vllm:prefix_cache_queries"
HITS = "vllm:prefix_cache_hits"
RATE_V0 = "vllm:gpu_prefix_cache_hit_rate"
PROMPT_TOKENS = "vllm:prompt_tokens"
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:cpu_cache_usage_perc")

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    """Samples of the Prometheus text exposition format (comments and blank lines skipped)."""
    samples = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise InvalidInputError(f"line {number} of the metrics text is not a Prometheus sample: {line[:80]!r}",
                                    field="metrics")
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group("labels") or "")}
        raw = m.group("value")
        try:
            value = float(raw.replace("Inf", "inf").replace("NaN", "nan"))
        except ValueError:
            raise InvalidInputError(f"line {number}: value {raw!r} is not a number", field="metrics") from None
        samples.append(Sample(m.group("name"), labels, value))
    return samples


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


@dataclass(frozen=True)
class PrefixCacheCounters:
    """Cumulative prefix-cache counters of one server (tokens), or ``None`` where it exposes none."""

    queries: float | None
    hits: float | None
    prompt_tokens: float | None = None
    v0_hit_rate: float | None = None

    @property
    def hit_rate(self) -> float | None:
        """Hits / queries since the server started (the V0 gauge where there are no counters)."""
        if self.queries:
            return (self.hits or 0.0) / self.queries
        return self.v0_hit_rate

    def since(self, before: PrefixCacheCounters) -> PrefixCacheCounters:
        """Counts between an earlier scrape ``before`` and this one."""
        def diff(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a - b

        return PrefixCacheCounters(diff(self.queries, before.queries), diff(self.hits, before.hits),
                                   diff(self.prompt_tokens, before.prompt_tokens), self.v0_hit_rate)


def prefix_cache_counters(text: str, model: str | None = None) -> PrefixCacheCounters:
    """Sum the prefix-cache series in ``text`` (only those whose ``model_name`` is ``model``, if given)."""
    totals: dict[str, float] = {}
    for s in parse_prometheus(text):
        if model is not None and s.labels.get("model_name", model) != model:
            continue
        base = s.name[:-len("_total")] if s.name.endswith("_total") else s.name
        if base in (QUERIES, HITS, PROMPT_TOKENS, RATE_V0) and not s.name.endswith("_created") and math.isfinite(s.value):
            totals[base] = totals.get(base, 0.0) + s.value
    return PrefixCacheCounters(totals.get(QUERIES), totals.get(HITS), totals.get(PROMPT_TOKENS), totals.get(RATE_V0))


@dataclass(frozen=True)
class ServerMetrics:
    """One scrape of a vLLM server: its queue and KV-cache gauges and prefix-cache counters."""

    running: float | None
    waiting: float | None
    kv_cache_usage: float | None  # fraction 0..1 of the KV cache blocks in use
    prefix_cache: PrefixCacheCounters

    def as_dict(self) -> dict[str, float | None]:
        """Flat figures for ``info()`` details and JSON reports."""
        return {
            "requests_running": self.running,
            "requests_waiting": self.waiting,
            "kv_cache_usage": self.kv_cache_usage,
            "prefix_cache_queries": self.prefix_cache.queries,
            "prefix_cache_hits": self.prefix_cache.hits,
            "prefix_cache_hit_rate": self.prefix_cache.hit_rate,
        }


def server_metrics(text: str, model: str | None = None) -> ServerMetrics:
    """Queue, KV-use and prefix-cache figures in ``text`` (series of other models skipped when ``model`` is given)."""
    gauges: dict[str, float] = {}
    for s in parse_prometheus(text):
        if model is not None and s.labels.get("model_name", model) != model:
            continue
        if s.name in (RUNNING, WAITING, *KV_USAGE) and math.isfinite(s.value):
            gauges[s.name] = gauges.get(s.name, 0.0) + s.value
    kv = next((gauges[name] for name in KV_USAGE if name in gauges), None)
    return ServerMetrics(gauges.get(RUNNING), gauges.get(WAITING), kv, prefix_cache_counters(text, model))


def metrics_url(base_url: str) -> str:
    """``/metrics`` on the server behind an OpenAI-compatible ``base_url`` (``http://h:8000/v1``)."""
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        raise InvalidInputError(f"{base_url!r} is not an http(s) URL of a vLLM server", field="base_url")
    return urlunsplit((parts.scheme, parts.netloc, "/metrics", "", ""))


def fetch_metrics_text(base_url: str, *, timeout: float = 5.0) -> str:
    """The raw ``/metrics`` text of the server behind ``base_url``."""
    import httpx

    url = metrics_url(base_url)
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise InvalidInputError(f"cannot read vLLM metrics from {url}: {exc}", field="base_url") from None
    return response.text


def scrape(base_url: str, *, model: str | None = None, timeout: float = 5.0) -> PrefixCacheCounters:
    """Read the server's current prefix-cache counters (``base_url`` as given to the openai backend)."""
    return prefix_cache_counters(fetch_metrics_text(base_url, timeout=timeout), model)


def scrape_server(base_url: str, *, model: str | None = None, timeout: float = 5.0) -> ServerMetrics:
    """Read the server's queue, KV-use and prefix-cache figures now."""
    return server_metrics(fetch_metrics_text(base_url, timeout=timeout), model)
