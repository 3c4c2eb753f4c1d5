"""Field orders from column statistics and functional dependencies, and the lexicographic row sort.

A good *fixed* field order puts first the fields whose values repeat most and are longest: a field
scores ``avg_len**2 * (n / distinct - 1)``, the expected quadratic-proxy gain of putting it first
(``n / distinct - 1`` repeats per distinct value, each worth ``len**2``). A near-unique field scores
about zero and goes last, since it ends every shared prefix anyway.

Two fields that determine each other (every value of one maps to exactly one value of the other,
both ways, such as a beer's name and its id) always share or differ together, so they are merged
into one field before planning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .table import EncodedTable, merge_fields


def field_scores(table: EncodedTable) -> np.ndarray:
    """``avg_len**2 * (n / distinct - 1)`` per field (0 for an empty table)."""
    n = table.n_rows
    scores = np.zeros(table.n_fields)
    if n == 0:
        return scores
    for j in range(table.n_fields):
        col = table.codes[:, j]
        distinct = len(np.unique(col))
        avg_len = float(table.cell_lengths[table.global_ids[:, j]].mean())
        scores[j] = avg_len**2 * (n / distinct - 1.0)
    return scores


def statistics_order(table: EncodedTable) -> list[int]:
    """Fields by decreasing :func:`field_scores`; ties keep the table's field order."""
    scores = field_scores(table)
    return sorted(range(table.n_fields), key=lambda j: (-scores[j], j))


def mutual_dependency_groups(table: EncodedTable) -> list[list[int]]:
    """Groups of fields that determine each other on this table (each group of two or more).

    Fields A and B determine each other when the number of distinct (A, B) pairs equals the
    number of distinct A values and the number of distinct B values. Unique fields (an id per row)
    trivially determine everything; they are left alone, since merging them gains nothing.
    """
    n = table.n_rows
    if n < 2:
        return []
    distinct = [len(np.unique(table.codes[:, j])) for j in range(table.n_fields)]
    parent = list(range(table.n_fields))

    def root(j: int) -> int:
        while parent[j] != j:
            j = parent[j]
        return j

    for a in range(table.n_fields):
        if distinct[a] == n:
            continue
        for b in range(a + 1, table.n_fields):
            if distinct[b] != distinct[a]:
                continue
            pairs = table.codes[:, a] * (int(table.codes[:, b].max()) + 1) + table.codes[:, b]
            if len(np.unique(pairs)) == distinct[a]:
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for j in range(table.n_fields):
        groups.setdefault(root(j), []).append(j)
    return [g for g in groups.values() if len(g) > 1]


def merge_dependent_fields(table: EncodedTable, extra_groups: Sequence[Sequence[int]] = ()) -> EncodedTable:
    """The table with mutually dependent fields (and any ``extra_groups`` given) merged."""
    groups = [set(g) for g in mutual_dependency_groups(table)]
    for g in extra_groups:
        g = set(g)
        overlapping = [h for h in groups if h & g]
        for h in overlapping:
            groups.remove(h)
            g |= h
        groups.append(g)
    if not groups:
        return table
    return merge_fields(table, [sorted(g) for g in groups])


def sorted_rows(table: EncodedTable, field_orders: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows sorted lexicographically by their cells in their own field order (a depth-first walk of
    the prefix tree): rows sharing a prefix become contiguous. Stable, so equal rows keep their order."""
    rows = np.arange(table.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.size == 0 or table.n_fields == 0:
        return rows
    keys = np.take_along_axis(table.global_ids[rows], np.asarray(field_orders)[rows], axis=1)
    # np.lexsort sorts by the last key first
    return rows[np.lexsort(keys.T[::-1])]
