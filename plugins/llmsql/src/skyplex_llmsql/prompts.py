"""Prompt templates of ``llm(template, col, ...)``.

Two forms:

- **instruction** (no placeholders): the prompt is the instruction, a blank line, then one
  ``field: value`` line per argument. The fields' order is free, so the planner may reorder them
  per row to lengthen shared prefixes; the instruction always comes first, shared by every row.
- **placeholders**: ``{name}`` (an argument's name) or ``{0}``, ``{1}`` (its position) are replaced
  by the values; the template fixes where each value goes, so only rows are reordered. A
  placeholder that names no argument is an error (a typo would otherwise reach the model as
  literal text); write ``{{name}}`` for a literal ``{name}``. Other braces (JSON examples such as
  ``{"answer": "yes"}``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from skyplex.errors import InvalidInputError

from .table import CELL_SEPARATOR, cell_text

#: ``{name}`` or ``{0}``, not doubled (``{{name}}`` is the escape for a literal ``{name}``)
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_./]*|\d+)\}(?!\})")
_ESCAPED = re.compile(r"\{(\{[A-Za-z_][A-Za-z0-9_./]*\}|\{\d+\})\}")


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
                where = (f"arguments are {list(self.names)} (use their names or positions "
                         f"0..{len(self.names) - 1})" if self.names else "llm() was given no arguments")
                raise InvalidInputError(
                    f"template placeholder {{{key}}} names no argument; {where}; write {{{{{key}}}}} for a "
                    f"literal {{{key}}}",
                    field="template",
                )

    @property
    def placeholders(self) -> list[str]:
        return [m.group(1) for m in _PLACEHOLDER.finditer(self.template)]

    @property
    def reorders_fields(self) -> bool:
        """Whether the field order is free (instruction form)."""
        return not self.placeholders

    def render(self, values: Mapping[str, str], order: Sequence[str] | None = None) -> str:
        """The prompt for one row (``values`` by argument name, already text)."""
        if self.reorders_fields:
            instruction = self.text
            cells = CELL_SEPARATOR.join(cell_text(name, values[name]) for name in (order or self.names))
            return f"{instruction}\n\n{cells}" if cells else instruction

        # split keeps each placeholder's key at odd positions; values are filled in after the literal
        # text is unescaped, so a value that itself contains "{{x}}" is sent exactly as it is
        out = []
        for k, piece in enumerate(_PLACEHOLDER.split(self.template)):
            if k % 2:
                out.append(values[self.names[int(piece)]] if piece.isdigit() else values[piece])
            else:
                out.append(_ESCAPED.sub(lambda m: m.group(1), piece))
        return "".join(out)

    @property
    def text(self) -> str:
        """The template with ``{{name}}`` escapes turned into the literal ``{name}`` the model sees."""
        return _ESCAPED.sub(lambda m: m.group(1), self.template)
