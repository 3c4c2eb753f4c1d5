"""The ``llmsql`` scheduler: reorder and deduplicate table-row requests for prefix-cache reuse.

Requests carry ``fields`` (one table row each) or a plain ``prompt``. The schedule lists the
distinct requests in planned order, maps repeats to the request whose result they reuse, gives each
row's field order, and cuts the order into batches that share a prefix.

Options (all optional): ``algorithm`` (``ggr`` default, ``stats``, ``sort``, ``original``,
``ophr``), ``template`` (the instruction every prompt starts with; only used to cut batches),
``reorder_fields`` (default true), ``min_batch`` / ``max_batch`` (batch sizes, default 4 / 64),
``dependency_groups`` (lists of field names to keep together).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces.scheduler import Schedule, ScheduledRequest, Scheduler

from .plan import plan_table, prefix_batches
from .prompts import PromptTemplate
from .table import value_text

_OPTIONS = {"algorithm", "template", "reorder_fields", "min_batch", "max_batch", "dependency_groups"}


class LLMSQLScheduler(Scheduler):
    """LLM-SQL request planning: deduplication, per-row field orders and row order (GGR by default)."""

    name = "llmsql"

    def __init__(self, **defaults: Any) -> None:
        unknown = set(defaults) - _OPTIONS - {"kernel"}
        if unknown:
            raise InvalidInputError(f"unknown llmsql scheduler option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}",
                                    field="options")
        defaults.pop("kernel", None)
        self.defaults = defaults

    def plan(self, requests: Sequence[ScheduledRequest], options: dict[str, Any] | None = None) -> Schedule:
        """A schedule covering every request once, directly or through ``dedup``."""
        opts = {**self.defaults, **(options or {})}
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise InvalidInputError(f"unknown llmsql scheduler option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}",
                                    field="options")
        if not requests:
            return Schedule(scheduler=self.name, order=[], batches=[], metrics={})
        ids = [r.id for r in requests]
        if len(set(ids)) != len(ids):
            raise InvalidInputError("request ids repeat; give every request a distinct id", field="requests")
        fields, columns = _columns(requests)
        algorithm = opts.get("algorithm", "ggr")
        plan = plan_table(columns, fields, algorithm=algorithm,
                          reorder_fields=bool(opts.get("reorder_fields", True)) and fields != ["prompt"],
                          dependency_groups=opts.get("dependency_groups", ()))
        template = PromptTemplate(opts.get("template") or "-", tuple(fields))
        if fields == ["prompt"]:
            texts = [columns[0][r] for r in plan.row_order]
        else:
            texts = [template.render({f: columns[j][r] for j, f in enumerate(fields)}, plan.field_orders[r])
                     for r in plan.row_order]
        cut = prefix_batches(texts, min_batch=int(opts.get("min_batch", 4)), max_batch=int(opts.get("max_batch", 64)))
        order = [ids[r] for r in plan.row_order]
        return Schedule(
            scheduler=self.name,
            order=order,
            batches=[[order[i] for i in batch] for batch in cut],
            dedup={ids[d]: ids[f] for d, f in plan.duplicates.items()},
            field_orders={ids[r]: plan.field_orders[r] for r in range(len(ids))} if fields != ["prompt"] else {},
            metrics=plan.metrics,
            details={"algorithm": algorithm, "merged_fields": plan.merged_fields},
        )


def _columns(requests: Sequence[ScheduledRequest]) -> tuple[list[str], list[list[str]]]:
    with_fields = [r for r in requests if r.fields]
    if with_fields and len(with_fields) != len(requests):
        raise InvalidInputError("mix of requests with fields and with prompts only; plan them separately",
                                field="requests")
    if not with_fields:
        missing = [r.id for r in requests if r.prompt is None]
        if missing:
            raise InvalidInputError(f"requests {missing[:5]} have neither fields nor a prompt", field="requests")
        return ["prompt"], [[r.prompt or "" for r in requests]]
    fields = list(with_fields[0].fields or {})
    columns: list[list[str]] = [[] for _ in fields]
    for r in requests:
        if set(r.fields or {}) != set(fields):
            raise InvalidInputError(f"request {r.id!r} has fields {sorted(r.fields or {})}, expected {sorted(fields)} "
                                    "(every row of one table has the same fields)", field="requests")
        for j, f in enumerate(fields):
            value = (r.fields or {})[f]
            if value is None:
                raise InvalidInputError(f"request {r.id!r} field {f!r} is null; fill or drop it first",
                                        field=f"requests.{r.id}.{f}")
            columns[j].append(value_text(value, column=f))
    return fields, columns
