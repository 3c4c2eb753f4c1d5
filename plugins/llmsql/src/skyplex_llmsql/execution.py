"""Run one LLM call site over many rows: text, plan, prompts, batches, a model backend, results.

:func:`evaluate` is where the plan meets a model. Rows whose arguments include NULL get NULL
(SQL's rule for functions) and are never sent. The distinct prompts go to the backend in planned
order, cut into batches that share a prefix (:func:`~.plan.prefix_batches`), so a backend that
prefills a batch's common prefix once (the local backend) reuses it. Results come back keyed by
row index, so they can never land on the wrong row whatever order they ran in.

Errors: a prompt longer than the model's context is caught before sending; a batch the backend
rejects is split in halves until the failing prompts are isolated, so one bad row costs its own
result only. ``on_error="fail"`` (the default) then raises :class:`LLMRowErrors` listing every
failed row and returns nothing: the query fails atomically. ``on_error="null"`` gives those rows
NULL and lists them in the report: the query completes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skyplex.errors import InvalidInputError, SkyplexError
from skyplex.interfaces.model import ChatMessage, GenerationParams, ModelBackend, Prompt

from .plan import plan_table, prefix_batches
from .prompts import PromptTemplate
from .table import value_text

log = logging.getLogger(__name__)

ON_ERROR = ("fail", "null")


class LLMRowErrors(SkyplexError):
    """Some rows' LLM calls failed and ``on_error`` is ``"fail"``: nothing is returned."""

    status_code = 422
    error_type = "llm_row_errors"

    def __init__(self, errors: list[dict[str, Any]], template: str) -> None:
        shown = "; ".join(f"{_where(e)}: {e['error']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(
            f"llm({template[:40]!r}, ...) failed on {len(errors)} row(s): {shown}{more}. The query was not "
            "completed; fix those rows, or pass on_error='null' to get NULL for them and finish the rest",
            field="llm",
        )
        self.errors = errors


def _where(error: dict[str, Any]) -> str:
    if "arguments" in error:
        return "arguments " + ", ".join(f"{k}={str(v)[:30]!r}" for k, v in error["arguments"].items())
    return f"row {error.get('row')}"


@dataclass
class ExecutionOptions:
    """How a call site is planned and run."""

    algorithm: str = "ggr"
    on_error: str = "fail"
    min_batch: int = 4
    max_batch: int = 64
    prefix_reuse: bool = True
    dependency_groups: Sequence[Sequence[str]] = ()
    #: send each prompt as one user message, so the backend applies the model's chat template
    #: (instruct models answer the question instead of continuing the ``field: value`` lines);
    #: False sends the raw text (base models). The instruction still leads, so prefixes stay shared.
    chat: bool = True
    #: read a vLLM server's prefix-cache counters around each call site: None = when the backend
    #: has a ``base_url`` (the openai backend pointed at a server), True = always, False = never
    server_metrics: bool | None = None

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR:
            raise InvalidInputError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}", field="on_error")


@dataclass
class CallReport:
    """What running one call site did."""

    template: str
    rows: int = 0
    null_rows: int = 0
    distinct_prompts: int = 0
    batches: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    plan_metrics: dict[str, float] = field(default_factory=dict)
    solver_time_s: float = 0.0
    model_time_s: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: the server's own prefix-cache counts over this call (vLLM /metrics), when read
    server_cache: dict[str, float] = field(default_factory=dict)

    @property
    def token_hit_rate(self) -> float:
        """Prompt tokens the backend reported as served from a reused prefix / all prompt tokens."""
        return self.cached_prompt_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template, "rows": self.rows, "null_rows": self.null_rows,
            "distinct_prompts": self.distinct_prompts, "batches": self.batches,
            "prompt_tokens": self.prompt_tokens, "cached_prompt_tokens": self.cached_prompt_tokens,
            "token_hit_rate": self.token_hit_rate, "plan_metrics": self.plan_metrics,
            "solver_time_s": self.solver_time_s, "model_time_s": self.model_time_s, "errors": self.errors,
            "server_cache": self.server_cache,
        }


def evaluate(
    backend: ModelBackend,
    template: PromptTemplate,
    rows: Sequence[Sequence[Any]],
    params: GenerationParams | None = None,
    options: ExecutionOptions | None = None,
) -> tuple[list[str | None], CallReport]:
    """One result per row (``rows[i]`` holds the argument values in ``template.names`` order)."""
    options = options or ExecutionOptions()
    params = (params or GenerationParams()).model_copy(update={"prefix_reuse": options.prefix_reuse})
    report = CallReport(template=template.template, rows=len(rows))
    names = list(template.names)
    results: list[str | None] = [None] * len(rows)
    live: list[int] = []
    columns: list[list[str]] = [[] for _ in names]
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise InvalidInputError(f"row {i} has {len(row)} values for {len(names)} arguments {names}", field="rows")
        if any(v is None for v in row):
            report.null_rows += 1
            continue
        live.append(i)
        for j, v in enumerate(row):
            columns[j].append(value_text(v, column=names[j]))
    if not live:
        return results, report
    if not names:  # a constant prompt: one call, the same answer on every row
        texts, errors = run_prompts(backend, [template.text], params, options, report)
        report.distinct_prompts = 1
        for i in live:
            results[i] = texts[0]
            if errors[0] is not None:
                report.errors.append({"row": i, "error": errors[0]})
        if report.errors and options.on_error == "fail":
            raise LLMRowErrors(report.errors, template.template)
        return results, report
    plan = plan_table(columns, names, algorithm=options.algorithm, reorder_fields=template.reorders_fields,
                      dependency_groups=options.dependency_groups)
    report.solver_time_s = plan.solver_time_s
    report.plan_metrics = plan.metrics
    prompts = [template.render({n: columns[j][k] for j, n in enumerate(names)}, plan.field_orders[k])
               for k in plan.row_order]
    report.distinct_prompts = len(prompts)
    before = _server_counters(backend, options)
    texts, errors = run_prompts(backend, prompts, params, options, report)
    if before is not None:
        after = _server_counters(backend, options)
        if after is not None:
            delta = after.since(before)
            report.server_cache = {k: v for k, v in {"queries": delta.queries, "hits": delta.hits,
                                                      "hit_rate": delta.hit_rate}.items() if v is not None}
    by_local = {k: (texts[p], errors[p]) for p, k in enumerate(plan.row_order)}
    for k, i in enumerate(live):
        text, error = by_local[plan.duplicates.get(k, k)]
        results[i] = text
        if error is not None:
            report.errors.append({"row": i, "error": error})
    if report.errors and options.on_error == "fail":
        raise LLMRowErrors(report.errors, template.template)
    return results, report


def run_prompts(
    backend: ModelBackend,
    prompts: list[str],
    params: GenerationParams,
    options: ExecutionOptions,
    report: CallReport | None = None,
) -> tuple[list[str | None], list[str | None]]:
    """Texts and errors per prompt, in the order given, sent in prefix-sharing batches."""
    report = report or CallReport(template="")
    texts: list[str | None] = [None] * len(prompts)
    errors: list[str | None] = [None] * len(prompts)
    sendable = _within_context(backend, prompts, params, errors)
    batches = prefix_batches([prompts[i] for i in sendable], min_batch=options.min_batch, max_batch=options.max_batch)
    start = time.perf_counter()
    for batch in batches:
        _generate(backend, [sendable[i] for i in batch], prompts, params, options, texts, errors, report)
    report.model_time_s += time.perf_counter() - start
    return texts, errors


def _server_counters(backend: ModelBackend, options: ExecutionOptions) -> Any:
    """The vLLM server's prefix-cache counters now, or None where not wanted or not readable."""
    base_url = getattr(backend, "base_url", None)
    if options.server_metrics is False or (options.server_metrics is None and not base_url):
        return None
    from .vllm_metrics import scrape

    try:
        return scrape(base_url, model=getattr(backend, "model", None))
    except Exception as exc:  # metrics are an extra: a server without them still answers queries
        if options.server_metrics:
            raise
        log.info("no prefix-cache metrics from %s: %s", base_url, exc)
        return None


def _within_context(backend: ModelBackend, prompts: list[str], params: GenerationParams,
                    errors: list[str | None]) -> list[int]:
    """Indices of prompts that fit the model's context with room for one new token; marks the rest."""
    try:
        context = backend.info().context_length
    except Exception:  # info() is best effort; the backend still refuses what it cannot take
        context = None
    if not context:
        return list(range(len(prompts)))
    keep = []
    for i, prompt in enumerate(prompts):
        # a cheap bound first: no tokenizer gives more tokens than characters (+ a few specials)
        if len(prompt) + 8 < context:
            keep.append(i)
            continue
        n = backend.count_tokens(prompt)
        if n >= context:
            errors[i] = (f"prompt has {n} tokens but the model's context is {context}; shorten the inputs "
                         "or the template")
        else:
            keep.append(i)
    return keep


def as_prompt(text: str, *, chat: bool = True) -> Prompt:
    """What the backend is sent for one prompt text: one user message (chat template applied) or raw text."""
    return [ChatMessage(role="user", content=text)] if chat else text


def _generate(backend: ModelBackend, batch: list[int], prompts: list[str], params: GenerationParams,
              options: ExecutionOptions, texts: list[str | None], errors: list[str | None],
              report: CallReport) -> None:
    """Send one batch; on failure split it to isolate the prompts the backend refuses."""
    report.batches += 1
    try:
        completions = backend.generate([as_prompt(prompts[i], chat=options.chat) for i in batch], params)
    except Exception as exc:  # any backend failure: isolate it rather than lose the whole batch
        if len(batch) == 1:
            errors[batch[0]] = f"{type(exc).__name__}: {exc}"
            log.warning("llm call failed on one prompt: %s", exc)
            return
        mid = len(batch) // 2
        _generate(backend, batch[:mid], prompts, params, options, texts, errors, report)
        _generate(backend, batch[mid:], prompts, params, options, texts, errors, report)
        return
    if len(completions) != len(batch):
        raise SkyplexError(f"model backend {backend.name!r} returned {len(completions)} completions for "
                           f"{len(batch)} prompts; it must return one per prompt, in order")
    for i, completion in zip(batch, completions):
        texts[i] = completion.text
        report.prompt_tokens += completion.usage.prompt_tokens
        report.cached_prompt_tokens += completion.usage.cached_prompt_tokens
