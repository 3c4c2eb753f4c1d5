"""Imports inside a function: ``import m``, ``import m as n``, ``import m.sub as n`` and
``from [.]m import a as b, c``. CPython 3.11 leaves the imported module on the stack while each name
is taken from it (IMPORT_FROM) and stored, then pops it; the statement is written at that pop."""

from __future__ import annotations

import dis
from typing import Any

from .symbolic import Expr


def step(executor: Any, ins: dis.Instruction, stack: list) -> None:
    """IMPORT_NAME and IMPORT_FROM: push markers the stores and the final pop turn into a statement."""
    if ins.opname == "IMPORT_FROM":
        source = stack[-1]  # stays: popped once every name is stored
        if getattr(source, "from_import", None) is None and getattr(source, "module", None) is None:
            raise executor.refuse(ins, "IMPORT_FROM without an import")
        stack.append(Expr(f"__import_from__ {ins.argval}", atom=True))
        stack[-1].imported = (source, ins.argval)
        return
    fromlist = executor.expr(stack.pop(), ins)
    level = executor.expr(stack.pop(), ins)
    level_value = getattr(level, "const", (None,))[0]
    names = getattr(fromlist, "const", (None,))[0]
    stack.append(Expr(f"__import__ {ins.argval}", atom=True))
    if (isinstance(level_value, int) and level_value >= 0 and isinstance(names, tuple) and names
            and all(isinstance(n, str) and n.isidentifier() for n in names)):  # ``from module import names``
        stack[-1].from_import = {"module": "." * level_value + ins.argval, "names": [], "fromlist": names}
    elif level.text != "0" or fromlist.text != "None":
        raise executor.refuse(ins, "import of an unknown shape")
    else:
        stack[-1].module = ins.argval


def pending(value: Any) -> bool:
    """Whether popping ``value`` completes an import statement."""
    return bool(getattr(value, "from_import", None) or getattr(value, "alias_line", None))


def statement(executor: Any, value: Any, ins: dis.Instruction) -> str:
    """The import statement completed by popping ``value``."""
    if getattr(value, "alias_line", None):
        return value.alias_line
    found = value.from_import
    if len(found["names"]) != len(found["fromlist"]):
        raise executor.refuse(ins, "from-import whose names are not all stored")
    return f"from {found['module']} import {', '.join(found['names'])}"


def is_import(value: Any) -> bool:
    return getattr(value, "imported", None) is not None or getattr(value, "module", None) is not None


def store(executor: Any, name: str, value: Any, ins: dis.Instruction) -> str | None:
    """Storing an imported module or name under ``name``: the statement, or None while it is incomplete."""
    if getattr(value, "imported", None) is not None:
        source, attr = value.imported
        found = getattr(source, "from_import", None)
        if found is not None:
            found["names"].append(attr if attr == name else f"{attr} as {name}")
        elif ("." in source.module and source.module.rsplit(".", 1)[1] == attr
              and not getattr(source, "alias_line", None)):
            source.alias_line = f"import {source.module} as {name}"  # written when the module is popped
        else:
            raise executor.refuse(ins, "import of an unknown shape")
        return None
    module = value.module
    if module.split(".")[0] == name:
        return f"import {module}"
    if "." in module:
        raise executor.refuse(ins, "import stored under another name")
    return f"import {module} as {name}"
