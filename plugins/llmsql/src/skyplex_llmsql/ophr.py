"""OPHR: the exact optimum of the quadratic prefix-hit proxy, for small tables.

Any ordering's score is a sum over groups of rows that start with the same cell: a group of ``k``
rows sharing a first cell of length ``l`` earns ``l**2 * (k - 1)``, plus whatever its rows earn on
their remaining fields; rows outside the group are solved on their own. So the optimum is the best,
over every (field, value) that repeats, of "group the rows holding it, solve the group without that
field, solve the others with all fields", memoised on (rows, fields). The search is exponential;
it exists to measure how close GGR comes, and refuses tables beyond ``max_cells`` cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skyplex.errors import InvalidInputError

from .ordering import sorted_rows
from .table import EncodedTable

#: rows x fields beyond which the exact search is refused (it grows exponentially)
DEFAULT_MAX_CELLS = 120


@dataclass
class OPHRResult:
    score: int
    row_order: np.ndarray
    field_orders: np.ndarray


def ophr(table: EncodedTable, *, max_cells: int = DEFAULT_MAX_CELLS) -> OPHRResult:
    """The proxy-optimal plan of ``table`` (score, row order, per-row field orders)."""
    n, m = table.codes.shape
    if n * m > max_cells:
        raise InvalidInputError(
            f"OPHR is exact and exponential; this table has {n} rows x {m} fields = {n * m} cells, over the "
            f"limit of {max_cells}. Use algorithm 'ggr' for large tables, or run OPHR on a sample",
            field="algorithm",
        )
    ids = table.global_ids
    weight = (table.cell_lengths**2).tolist()

    @lru_cache(maxsize=None)
    def best(rows: frozenset[int], cols: frozenset[int]) -> tuple[int, tuple]:
        # returns (score, plan) where plan is a tuple of (rows, lead field, subplan) groups
        if len(rows) < 2 or not cols:
            return 0, ()
        top, top_plan = 0, ()
        seen: set[int] = set()
        for c in sorted(cols):
            values: dict[int, list[int]] = {}
            for r in rows:
                values.setdefault(int(ids[r, c]), []).append(r)
            for cell, holders in sorted(values.items()):
                if len(holders) < 2 or cell in seen:
                    continue
                seen.add(cell)
                group = frozenset(holders)
                inner, inner_plan = best(group, cols - {c})
                outer, outer_plan = best(rows - group, cols)
                score = weight[cell] * (len(holders) - 1) + inner + outer
                if score > top:
                    top, top_plan = score, ((group, c, inner_plan), *outer_plan)
        return top, top_plan

    score, plan = best(frozenset(range(n)), frozenset(range(m)))
    field_orders = np.tile(np.arange(m, dtype=np.int64), (n, 1))

    def apply(plan: tuple, prefix: list[int], cols: list[int]) -> None:
        for group, c, inner in plan:
            lead = prefix + [c]
            rest = [x for x in cols if x != c]
            for r in group:
                field_orders[r] = lead + rest
            apply(inner, lead, rest)

    apply(plan, [], list(range(m)))
    return OPHRResult(score=int(score), row_order=sorted_rows(table, field_orders), field_orders=field_orders)
