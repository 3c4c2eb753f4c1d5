"""When both readings of a function fail (plain rules, then compound conditions read as a whole),
the refusal names the instruction the further reading stopped at: what is actually left to read."""

from __future__ import annotations

import dis
import re

from skyplex_depyf.decompiler import decompile


def folded_test_then_match(a, x):
    if (5 if x else a):
        x += 6
    match a:
        case {"k": 1, **rest}:
            x = rest
    return x


def test_refusal_names_the_later_instruction():
    result = decompile(folded_test_then_match)
    assert not result.ok
    offset = int(re.match(r"offset (\d+) ", result.refusal).group(1))
    match_line = folded_test_then_match.__code__.co_firstlineno + 3
    match_start = min(ins.offset for ins in dis.get_instructions(folded_test_then_match)
                      if ins.positions.lineno is not None and ins.positions.lineno >= match_line)
    assert offset >= match_start, result.refusal
    assert result.text().startswith("# could not decompile folded_test_then_match")
