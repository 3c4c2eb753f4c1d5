"""Per-version opcode tables: each CPython version's jump and call spellings mapped onto the canonical
operations the decompiler's rules are written against, so a new version is a table, not a fork."""

from __future__ import annotations

import sys

#: canonical conditional jumps: (jump taken when the popped value is ..., pops the value)
COND_JUMPS_311 = {
    "POP_JUMP_FORWARD_IF_FALSE": "false", "POP_JUMP_BACKWARD_IF_FALSE": "false",
    "POP_JUMP_FORWARD_IF_TRUE": "true", "POP_JUMP_BACKWARD_IF_TRUE": "true",
    "POP_JUMP_FORWARD_IF_NONE": "none", "POP_JUMP_BACKWARD_IF_NONE": "none",
    "POP_JUMP_FORWARD_IF_NOT_NONE": "notnone", "POP_JUMP_BACKWARD_IF_NOT_NONE": "notnone",
}
JUMPS_311 = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
#: instructions with no effect on the decompiled source
SKIP_311 = {"RESUME", "NOP", "PRECALL", "CACHE", "COPY_FREE_VARS", "MAKE_CELL", "EXTENDED_ARG"}

TABLES = {
    (3, 11): {"cond_jumps": COND_JUMPS_311, "jumps": JUMPS_311, "skip": SKIP_311},
}


def table_for(version: tuple[int, int] | None = None) -> dict:
    """The opcode table of ``version`` (default: the running interpreter); KeyError when unsupported."""
    version = version or sys.version_info[:2]
    if version not in TABLES:
        raise KeyError(f"no opcode table for CPython {version[0]}.{version[1]} (supported: "
                       + ", ".join(f"{a}.{b}" for a, b in TABLES) + ")")
    return TABLES[version]
