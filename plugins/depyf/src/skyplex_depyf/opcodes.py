"""Per-version opcode tables: each CPython version's jump and call spellings mapped onto the canonical
operations the decompiler's rules are written against, so a new version is a table, not a fork.

The canonical operations are CPython 3.11's. Another version's instruction stream is first rewritten
into them by :mod:`.versions`, using the renames and intrinsic names below; the shapes that need more
than a rename (a constant return, a slice, an inlined comprehension) are small rules there."""

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

#: 3.12 spellings of canonical operations: one instruction for one, same stack effect
RENAMES_312 = {"LOAD_FAST_CHECK": "LOAD_FAST"}
#: 3.12's direction-free conditional jumps; the canonical name adds FORWARD or BACKWARD
DIRECTIONLESS_JUMPS_312 = {"POP_JUMP_IF_FALSE": "FALSE", "POP_JUMP_IF_TRUE": "TRUE", "POP_JUMP_IF_NONE": "NONE",
                           "POP_JUMP_IF_NOT_NONE": "NOT_NONE"}
#: ``CALL_INTRINSIC_1`` functions that were instructions of their own in 3.11
INTRINSICS_312 = {"INTRINSIC_UNARY_POSITIVE": "UNARY_POSITIVE", "INTRINSIC_LIST_TO_TUPLE": "LIST_TO_TUPLE",
                  "INTRINSIC_ASYNC_GEN_WRAP": "ASYNC_GEN_WRAP"}
#: 3.13's instructions that do two canonical things at once: (first, second), each on one name
SUPERINSTRUCTIONS_313 = {"LOAD_FAST_LOAD_FAST": ("LOAD_FAST", "LOAD_FAST"),
                         "STORE_FAST_LOAD_FAST": ("STORE_FAST", "LOAD_FAST"),
                         "STORE_FAST_STORE_FAST": ("STORE_FAST", "STORE_FAST")}

#: 3.10's binary and in-place operators: 3.11's ``BINARY_OP`` number and the operator's symbol
_BINARY_310 = {"ADD": (0, "+"), "AND": (1, "&"), "FLOOR_DIVIDE": (2, "//"), "LSHIFT": (3, "<<"),
               "MATRIX_MULTIPLY": (4, "@"), "MULTIPLY": (5, "*"), "MODULO": (6, "%"), "OR": (7, "|"),
               "POWER": (8, "**"), "RSHIFT": (9, ">>"), "SUBTRACT": (10, "-"), "TRUE_DIVIDE": (11, "/"),
               "XOR": (12, "^")}
BINARY_OPS_310 = {**{f"BINARY_{name}": op for name, op in _BINARY_310.items()},
                  **{f"INPLACE_{name}": (number + 13, symbol + "=") for name, (number, symbol) in _BINARY_310.items()}}
#: 3.10's stack copies and rotations as 3.11's ``COPY n`` and ``SWAP n`` sequences (``ROT_N n`` is
#: ``SWAP n`` down to ``SWAP 2``)
COPIES_310 = {"DUP_TOP": (1,), "DUP_TOP_TWO": (2, 2)}
ROTATIONS_310 = {"ROT_TWO": (2,), "ROT_THREE": (3, 2), "ROT_FOUR": (4, 3, 2)}

_CANONICAL = {"cond_jumps": COND_JUMPS_311, "jumps": JUMPS_311, "skip": SKIP_311}
TABLES = {
    (3, 10): {**_CANONICAL, "renames": {}, "directionless": {}, "intrinsics": {}, "superinstructions": {},
              "binary_ops": BINARY_OPS_310, "copies": COPIES_310, "rotations": ROTATIONS_310},
    (3, 11): {**_CANONICAL, "renames": {}, "directionless": {}, "intrinsics": {}, "superinstructions": {}},
    (3, 12): {**_CANONICAL, "renames": RENAMES_312, "directionless": DIRECTIONLESS_JUMPS_312,
              "intrinsics": INTRINSICS_312, "superinstructions": {}},
    (3, 13): {**_CANONICAL, "renames": RENAMES_312, "directionless": DIRECTIONLESS_JUMPS_312,
              "intrinsics": INTRINSICS_312, "superinstructions": SUPERINSTRUCTIONS_313},
}


def table_for(version: tuple[int, int] | None = None) -> dict:
    """The opcode table of ``version`` (default: the running interpreter); KeyError when unsupported."""
    version = version or sys.version_info[:2]
    if version not in TABLES:
        raise KeyError(f"no opcode table for CPython {version[0]}.{version[1]} (supported: "
                       + ", ".join(f"{a}.{b}" for a, b in TABLES) + ")")
    return TABLES[version]
