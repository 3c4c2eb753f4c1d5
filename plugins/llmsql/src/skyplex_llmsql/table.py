"""A table of LLM inputs encoded for planning: one integer code per cell, text per distinct cell.

Every planner works on :class:`EncodedTable`. A cell is the text ``"field: value"``; two cells are
equal only when both the field and the value are equal, so a value repeated in two different fields
never counts as a shared prefix. Codes are assigned in sorted value order, which makes every plan a
function of the table's *content* and never of its row order (a shuffled table plans the same).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError

#: between the cells of one prompt
CELL_SEPARATOR = "\n"


def cell_text(name: str, value: str) -> str:
    """The text one cell contributes to a prompt."""
    return f"{name}: {value}"


@dataclass
class EncodedTable:
    """Rows x fields as integer codes, plus what each code means.

    ``codes[r, f]`` indexes ``cells[f]`` (the distinct cell texts of field ``f``, sorted by value).
    ``global_ids`` gives every (field, value) one id across all fields, ordered by field then value,
    so sorting rows by global ids in their chosen field order is a lexicographic sort of the cells.
    """

    fields: list[str]
    cells: list[list[str]]
    codes: np.ndarray
    #: the source columns each field stands for (more than one after functional-dependency merging)
    members: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes, dtype=np.int64).reshape(-1, len(self.fields))
        if not self.members:
            self.members = [[f] for f in self.fields]
        sizes = np.array([len(c) for c in self.cells], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.global_ids = self.codes + self.offsets[None, :]
        #: length in characters of each global cell id, and the field it belongs to
        self.cell_lengths = np.array([len(t) for texts in self.cells for t in texts], dtype=np.int64)
        self.cell_field = np.repeat(np.arange(len(self.fields)), sizes)

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_fields(self) -> int:
        return len(self.fields)

    def row_cells(self, row: int, order: Sequence[int]) -> list[str]:
        """The cell texts of ``row`` in field order ``order``."""
        return [self.cells[f][self.codes[row, f]] for f in order]

    def row_text(self, row: int, order: Sequence[int]) -> str:
        """The serialised row: its cells in ``order`` joined by newlines."""
        return CELL_SEPARATOR.join(self.row_cells(row, order))

    def texts(self, row_order: Sequence[int], field_orders: np.ndarray) -> list[str]:
        """Serialised rows in ``row_order``; ``field_orders[r]`` is row ``r``'s field order."""
        return [self.row_text(int(r), field_orders[r]) for r in row_order]


def value_text(value: Any, *, column: str) -> str:
    """Text for one input value; refuses values whose text form would be meaningless to a model.

    Strings pass as they are; numbers, booleans, dates and times use their usual text form. Bytes,
    lists, maps and other objects are refused with advice, rather than sent as a Python repr.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidInputError(
            f"column {column!r} holds binary data ({type(value).__name__}); an LLM prompt needs text. "
            "Decode it first, e.g. decode(col) or CAST(col AS VARCHAR) in SQL",
            field=column,
        )
    if isinstance(value, (list, tuple, dict, set)):
        raise InvalidInputError(
            f"column {column!r} holds a {type(value).__name__}; an LLM prompt needs scalar text. "
            "Turn it into text first, e.g. to_json(col) or array_to_string(col, ', ') in SQL",
            field=column,
        )
    if isinstance(value, (bool, int, float)) or type(value).__module__ in ("datetime", "decimal", "uuid"):
        return str(value)
    if hasattr(value, "isoformat"):  # pandas / numpy timestamps
        return str(value)
    if isinstance(value, np.generic):
        return str(value.item())
    raise InvalidInputError(
        f"column {column!r} holds a value of type {type(value).__name__} that has no text form for a prompt; "
        "cast it to text first",
        field=column,
    )


def encode_rows(rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[str]], fields: Sequence[str]) -> EncodedTable:
    """Encode rows (mappings by field name, or sequences in ``fields`` order) of text values.

    Values must already be text (see :func:`value_text`); ``None`` is refused because a prompt
    cannot say NULL (callers decide what NULL means before planning).
    """
    fields = list(fields)
    if len(set(fields)) != len(fields):
        raise InvalidInputError(f"field names repeat: {fields}; give each input a distinct name", field="fields")
    columns: list[list[str]] = [[] for _ in fields]
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            missing = [f for f in fields if f not in row]
            if missing:
                raise InvalidInputError(
                    f"row {i} has no field(s) {missing}; its fields are {sorted(row)}", field=f"rows[{i}]"
                )
            values = [row[f] for f in fields]
        else:
            values = list(row)
            if len(values) != len(fields):
                raise InvalidInputError(
                    f"row {i} has {len(values)} values but there are {len(fields)} fields", field=f"rows[{i}]"
                )
        for j, v in enumerate(values):
            if v is None:
                raise InvalidInputError(f"row {i} field {fields[j]!r} is NULL; fill or filter NULLs first",
                                        field=f"rows[{i}].{fields[j]}")
            columns[j].append(value_text(v, column=fields[j]))
    return encode_columns(fields, columns)


def encode_columns(fields: Sequence[str], columns: Sequence[Sequence[str]]) -> EncodedTable:
    """Encode column-wise text values (all columns the same length)."""
    n = len(columns[0]) if columns else 0
    codes = np.zeros((n, len(fields)), dtype=np.int64)
    cells: list[list[str]] = []
    for j, (name, values) in enumerate(zip(fields, columns)):
        if len(values) != n:
            raise InvalidInputError(f"column {name!r} has {len(values)} values, expected {n}", field=name)
        arr = np.asarray(values, dtype=object)
        uniques, inverse = np.unique(arr.astype(str), return_inverse=True) if n else (np.array([], dtype=str), [])
        codes[:, j] = inverse
        cells.append([cell_text(name, str(u)) for u in uniques])
    return EncodedTable(list(fields), cells, codes)


def merge_fields(table: EncodedTable, groups: Sequence[Sequence[int]]) -> EncodedTable:
    """A table where each group of fields becomes one field whose cell is the members' cells joined.

    Used for fields that determine each other (functional dependencies both ways): keeping them
    together loses nothing and lets the planner see their combined length.
    """
    grouped = {j for g in groups for j in g}
    plan: list[list[int]] = [list(g) for g in groups if g] + [[j] for j in range(table.n_fields) if j not in grouped]
    plan.sort(key=min)  # keep the original field order among the groups
    fields, cells, members, code_cols = [], [], [], []
    for group in plan:
        if len(group) == 1:
            j = group[0]
            fields.append(table.fields[j])
            cells.append(table.cells[j])
            members.append(table.members[j])
            code_cols.append(table.codes[:, j])
            continue
        key = table.codes[:, group]
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        fields.append("+".join(table.fields[j] for j in group))
        cells.append([CELL_SEPARATOR.join(table.cells[j][int(c)] for j, c in zip(group, u)) for u in uniq])
        members.append([m for j in group for m in table.members[j]])
        code_cols.append(np.asarray(inverse).reshape(-1))
    codes = np.stack(code_cols, axis=1) if code_cols else np.zeros((table.n_rows, 0), dtype=np.int64)
    return EncodedTable(fields, cells, codes, members)
