"""Prompt templates of ``llm(template, col, ...)``.

Two forms:

- **instruction** (no placeholders): the prompt is the instruction, a blank line, then one
  ``field: value`` line per argument. The fields' order is free, so the planner may reorder them
  per row to lengthen shared prefixes; the instruction always comes first, shared by every row.
- **placeholders**: ``{name}`` (an argument's name) or ``{0}``, ``{1}`` (its position) are replaced
  by the values; the template fixes where each value goes, so only rows are reordered. Other braces
  (JSON examples in the instruction) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from skyplex.errors import InvalidInputError

from .table import CELL_SEPARATOR, cell_text

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_./]*|\d+)\}")


@dataclass(frozen=True)
class PromptTemplate:
    """A template and the names of the arguments it is applied to."""

    template: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.template, str) or not self.template.strip():
            raise InvalidInputError("the prompt template (first argument of llm) must be non-empty text",
                                    field="template")
        if len(set(self.names)) != len(self.names):
            raise InvalidInputError(f"llm() arguments repeat a name: {list(self.names)}; alias them apart",
                                    field="template")
        for key in self.placeholders:
            if not (key.isdigit() and int(key) < len(self.names)) and key not in self.names:
                raise InvalidInputError(
                    f"template placeholder {{{key}}} names no argument; arguments are {list(self.names)} "
                    f"(use their names or positions 0..{len(self.names) - 1})",
                    field="template",
                )

    @property
    def placeholders(self) -> list[str]:
        return [m.group(1) for m in _PLACEHOLDER.finditer(self.template)
                if m.group(1).isdigit() or m.group(1) in self.names]

    @property
    def reorders_fields(self) -> bool:
        """Whether the field order is free (instruction form)."""
        return not self.placeholders

    def render(self, values: Mapping[str, str], order: Sequence[str] | None = None) -> str:
        """The prompt for one row (``values`` by argument name, already text)."""
        if self.reorders_fields:
            cells = CELL_SEPARATOR.join(cell_text(name, values[name]) for name in (order or self.names))
            return f"{self.template}\n\n{cells}" if cells else self.template

        def fill(m: re.Match[str]) -> str:
            key = m.group(1)
            if key.isdigit():
                return values[self.names[int(key)]]
            return values[key] if key in values else m.group(0)

        return _PLACEHOLDER.sub(fill, self.template)
