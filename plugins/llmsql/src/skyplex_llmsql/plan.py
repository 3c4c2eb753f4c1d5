"""Plan a table of LLM inputs: deduplicate, merge dependent fields, order fields and rows, batch.

:func:`plan_table` is the one entry point the scheduler, the SQL engines and the benchmarks share.
Algorithms:

- ``original``: rows as given, fields as given (the baseline).
- ``sort``: fields as given, rows sorted (the best row order for a fixed field order).
- ``stats``: fields in statistics order (see :mod:`.ordering`), rows sorted.
- ``ggr``: Greedy Group Recursion (see :mod:`.ggr`), the default.
- ``ophr``: the exact optimum (see :mod:`.ophr`), small tables only.

With ``reorder_fields=False`` (prompt templates that place each field themselves) only the rows
move: ``ggr``/``stats``/``ophr`` all reduce to ``sort``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from skyplex.errors import InvalidInputError

from .ggr import ggr, ggr_best
from .metrics import character_hit_rate, proxy_hits
from .ophr import ophr
from .ordering import merge_dependent_fields, sorted_rows, statistics_order
from .table import EncodedTable, encode_columns

log = logging.getLogger(__name__)

ALGORITHMS = ("original", "sort", "stats", "ggr", "ophr")


@dataclass
class TablePlan:
    """Where each input row goes. Row indices refer to the table as given.

    ``row_order`` lists the rows to run (one per distinct row), ``duplicates`` maps every other row
    to the row whose result it reuses, ``field_orders[r]`` names row ``r``'s fields in prompt order.
    """

    algorithm: str
    fields: list[str]
    row_order: list[int]
    duplicates: dict[int, int]
    field_orders: list[list[str]]
    solver_time_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    merged_fields: list[list[str]] = field(default_factory=list)

    def text(self, row: int, values: Sequence[str]) -> str:
        """Serialised cells of ``row`` (given its values in ``fields`` order) in the planned field order."""
        by_name = dict(zip(self.fields, values))
        return "\n".join(f"{name}: {by_name[name]}" for name in self.field_orders[row])


def plan_table(
    columns: Sequence[Sequence[str]],
    fields: Sequence[str],
    *,
    algorithm: str = "ggr",
    reorder_fields: bool = True,
    merge_dependencies: bool = True,
    dependency_groups: Sequence[Sequence[str]] = (),
    measure: bool = True,
    ggr_powers: Sequence[float] | None = None,
) -> TablePlan:
    """Plan rows given column-wise (``columns[j][r]`` is field ``fields[j]`` of row ``r``, as text).

    ``dependency_groups`` names fields to keep together (declared functional dependencies), on top
    of those found in the data. ``measure`` adds predicted hit rates (proxy and character level) of
    the serialised rows for the plan and for the original order. ``ggr_powers`` overrides the
    selection exponents GGR tries (``[2]`` is the paper's rule alone).
    """
    details: dict[str, float] = {}
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}",
                                field="algorithm")
    fields = list(fields)
    unknown = sorted({f for g in dependency_groups for f in g} - set(fields))
    if unknown:
        raise InvalidInputError(f"dependency_groups name unknown field(s) {unknown}; fields are {fields}",
                                field="dependency_groups")
    table = encode_columns(fields, columns)
    start = time.perf_counter()
    # dedup: plan the distinct rows only, every repeat reuses its first copy's result
    if table.n_rows:
        _, first, inverse = np.unique(table.codes, axis=0, return_index=True, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
    else:
        first, inverse = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    distinct = EncodedTable(table.fields, table.cells, table.codes[first])
    effective = algorithm if reorder_fields or algorithm == "original" else "sort"
    planned, merged = distinct, distinct
    if effective in ("stats", "ggr", "ophr") and merge_dependencies:
        extra = [[fields.index(f) for f in g] for g in dependency_groups]
        merged = merge_dependent_fields(distinct, extra)
        planned = merged
    n = planned.n_rows
    identity = np.tile(np.arange(planned.n_fields, dtype=np.int64), (n, 1))
    if effective == "original":
        order, orders = np.argsort(first, kind="stable"), identity
    elif effective == "sort":
        order, orders = sorted_rows(planned, identity), identity
    elif effective == "stats":
        orders = np.tile(np.asarray(statistics_order(planned), dtype=np.int64), (n, 1))
        order = sorted_rows(planned, orders)
    elif effective == "ggr":
        result = ggr_best(planned) if ggr_powers is None else ggr_best(planned, tuple(ggr_powers))
        order, orders = result.row_order, result.field_orders
        details["ggr_length_power"] = result.length_power
        details["ggr_groups"] = result.groups
    else:
        result = ophr(planned)
        order, orders = result.row_order, result.field_orders
    solver_time = time.perf_counter() - start
    # back to the caller's row indices and field names
    expanded = [[name for j in orders[d] for name in planned.members[j]] for d in range(n)]
    row_order = [int(first[d]) for d in order]
    duplicates = {r: int(first[inverse[r]]) for r in range(table.n_rows) if first[inverse[r]] != r}
    field_orders = [expanded[int(inverse[r])] for r in range(table.n_rows)]
    plan = TablePlan(
        algorithm=algorithm,
        fields=fields,
        row_order=row_order,
        duplicates=duplicates,
        field_orders=field_orders,
        solver_time_s=solver_time,
        merged_fields=[m for m in merged.members if len(m) > 1],
    )
    if measure:
        plan.metrics = plan_metrics(table, plan)
    plan.metrics.update(details)
    log.debug("planned %d rows (%d distinct) with %s in %.3fs", table.n_rows, n, algorithm, solver_time)
    return plan


def plan_metrics(table: EncodedTable, plan: TablePlan) -> dict[str, float]:
    """Predicted hit rates of the serialised rows: the plan's order vs the original order."""
    index = {name: j for j, name in enumerate(table.fields)}
    orders = np.array([[index[name] for name in fo] for fo in plan.field_orders], dtype=np.int64).reshape(
        table.n_rows, table.n_fields
    )
    identity = np.tile(np.arange(table.n_fields, dtype=np.int64), (table.n_rows, 1))
    original = list(range(table.n_rows))
    hit, total = proxy_hits(table, plan.row_order, orders)
    base_hit, base_total = proxy_hits(table, original, identity)
    return {
        "rows": float(table.n_rows),
        "distinct_rows": float(len(plan.row_order)),
        "proxy_hit": float(hit),
        "proxy_hit_rate": hit / total if total else 0.0,
        "proxy_hit_rate_original": base_hit / base_total if base_total else 0.0,
        "char_hit_rate": character_hit_rate(table.texts(plan.row_order, orders)),
        "char_hit_rate_original": character_hit_rate(table.texts(original, identity)),
        "solver_time_s": plan.solver_time_s,
    }


def prefix_batches(prompts: Sequence[str], *, min_batch: int = 4, max_batch: int = 64) -> list[list[int]]:
    """Cut prompts (already in run order) into consecutive batches that share long prefixes.

    A batch's shared prefix is the shortest common prefix of consecutive members. A new batch
    starts when the current one is full (``max_batch``), or when it holds at least ``min_batch``
    prompts and the next prompt would shorten its shared prefix. Backends that prefill a batch's
    common prefix once (the local backend) then reuse the deepest prefix each group has.
    """
    from .metrics import common_prefix_length

    if min_batch < 1 or max_batch < min_batch:
        raise InvalidInputError(f"need 1 <= min_batch <= max_batch, got {min_batch} and {max_batch}",
                                field="min_batch")
    batches: list[list[int]] = []
    current: list[int] = []
    shared = 0
    for i, prompt in enumerate(prompts):
        if current:
            lcp = common_prefix_length(prompts[current[-1]], prompt)
            new_shared = lcp if len(current) == 1 else min(shared, lcp)
            if len(current) >= max_batch or (len(current) >= min_batch and new_shared < shared):
                batches.append(current)
                current, shared = [i], 0
                continue
            shared = new_shared
        current.append(i)
    if current:
        batches.append(current)
    return batches
