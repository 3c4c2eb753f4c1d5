"""Run inside CPython 3.12 or 3.13 by ``test_match312.py``: round-trips fixed ``match`` statements and a
seeded sample of the generated match corpus through that interpreter's decompiler (judged by their
results on the corpus's inputs) and prints one JSON line. A mutation breaks one of the rewrites of
``match312.py`` first, to show the recompile check refuses what it then reads. It imports only the
plugin's source (on PYTHONPATH), never the kernel.

Usage: match312_child.py SEED COUNT MUTATION [--sources]  (with --sources, the sources to round-trip
are read from stdin as a JSON list instead)"""

from __future__ import annotations

import json
import random
import sys

from skyplex_depyf import match312
from skyplex_depyf.corpus import MATCH_INPUTS, gen_match, round_trip_generated

# each is ``generated(x, t)``; the comment says what the newer compilers lay out differently
CONSTRUCTS = {
    # a failing class pattern's pops follow a body that ends in the copied ``return r``
    "class_part_single_case": ("def generated(x, t):\n    r = 0\n    match x:\n        case int(None):\n"
                               "            r = 1\n    return r\n"),
    # sequence, mapping and default cases: the mapping's tests enter its pops at three points
    "sequence_mapping_default": ("def generated(x, t):\n    r = 0\n    match x:\n        case [1, v0]:\n"
                                 "            r = 1\n            r = (r, v0)\n        case {'k': 3}:\n"
                                 "            r = 2\n            return r\n        case _:\n            r = -1\n"
                                 "    return r\n"),
    "mapping_capture_then_literal": ("def generated(x, t):\n    r = 0\n    match x:\n        case {'k': v0}:\n"
                                     "            r = 1\n            r = (r, v0)\n        case [2, 3, _]:\n"
                                     "            r = 2\n            return r\n    return r\n"),
    "guarded_sequence": ("def generated(x, t):\n    r = 0\n    match x:\n        case [True, *v0] if v0 == t:\n"
                         "            r = 1\n            return r\n        case (1, v1):\n            r = 2\n"
                         "    return r\n"),
    "nested_class_in_sequence": ("def generated(x, t):\n    r = 0\n    match x:\n        case [int(v0), 2]:\n"
                                 "            r = (1, v0)\n            return r\n        case {'k': 1}:\n"
                                 "            r = 2\n    return r\n"),
    # a last or-pattern case returning: its success block follows the failure path, which holds the
    # only copy of ``return r``
    "last_or_pattern_returning": ("def generated(x, t):\n    r = 0\n    match x:\n        case 0 | 1 | 3:\n"
                                  "            r = 1\n            return r\n    return r\n"),
    "mapping_then_or_pattern": ("def generated(x, t):\n    r = 0\n    match x:\n        case {'k': v0}:\n"
                                "            r = 1\n            r = (r, v0)\n        case 4 | 0:\n"
                                "            r = 2\n            return r\n    return r\n"),
    # the first body ends in a copy of ``return r``; the default case falls into the original
    "copy_before_default": ("def generated(x, t):\n    r = 0\n    match x:\n        case 's':\n"
                            "            r = 1\n        case 0 | 3:\n            r = 2\n            return r\n"
                            "        case _:\n            r = -1\n    return r\n"),
    # a body ending in its own ``return r`` (other source positions than the block after the match)
    "written_return_before_default": ("def generated(x, t):\n    r = 0\n    match x:\n        case [_]:\n"
                                      "            r = 1\n            return r\n        case _:\n"
                                      "            r = -1\n    return r\n"),
    # a guarded last case: its body ends in a copy of ``return r`` where ``case v0: if c:`` falls in
    "guarded_last_case": ("def generated(x, t):\n    r = 0\n    match x:\n        case 3:\n            r = 1\n"
                          "        case v0 if v0 == t:\n            r = 3\n    return r\n"),
    "guarded_last_case_after_return": ("def generated(x, t):\n    r = 0\n    match x:\n        case int(None):\n"
                                       "            r = 1\n            return r\n        case v0 if v0 == t:\n"
                                       "            r = (2, v0)\n    return r\n"),
    "unguarded_if_in_last_case": ("def generated(x, t):\n    r = 0\n    match x:\n        case 3:\n"
                                  "            r = 1\n        case v0:\n            if v0 == t:\n"
                                  "                r = 3\n    return r\n"),
    # every case returns: the block after the statement is gone but for its copy in the class case
    "all_cases_return": ("def generated(x, t):\n    r = 0\n    match x:\n        case 1 | 0:\n"
                         "            r = 1\n            return r\n        case int({'k': None}):\n"
                         "            r = 2\n        case _:\n            r = 4\n            return r\n"
                         "    return r\n"),
    # statements around the match: the rewrites leave what is not a copy of the block after it
    "implicit_return_none": ("def generated(x, t):\n    match x:\n        case [a]:\n            t = (a,)\n"
                             "        case 3:\n            return 3\n"),
    "code_after_match": ("def generated(x, t):\n    r = 0\n    match x:\n        case (1, y):\n            r = y\n"
                         "        case int(z) if z > t:\n            r = -z\n    r += 1\n    return r, t\n"),
    "match_in_try": ("def generated(x, t):\n    try:\n        match x:\n            case [a, b]:\n"
                     "                return a / b\n            case _:\n                return 0\n"
                     "    except ZeroDivisionError:\n        return -1\n"),
    "nested_match": ("def generated(x, t):\n    match x:\n        case [a]:\n            match t:\n"
                     "                case 0:\n                    return a\n                case _:\n"
                     "                    return 1\n        case {'k': v}:\n            return v\n    return None\n"),
    "constant_returned_after": ("def generated(x, t):\n    match x:\n        case 's':\n            t = 1\n"
                                "        case [1, 2]:\n            t = 2\n    return 5\n"),
    "match_in_if_arm": ("def generated(x, t):\n    if t:\n        match x:\n            case 1:\n"
                        "                return 1\n            case 2 | 3:\n                t = 4\n    return t\n"),
    # 3.12 copies the small returning body (and the subject's pops) into each alternative
    "or_pattern_returning_constant": ("def generated(x, t):\n    r = 0\n    match x:\n        case 1 | 0:\n"
                                      "            return 1\n        case _:\n            r = 4\n    return r\n"),
    "or_pattern_returning_before_more_cases": ("def generated(x, t):\n    r = 0\n    match x:\n"
                                               "        case 1 | 0 | 's':\n            return 1\n"
                                               "        case int({'k': None}):\n            r = 2\n"
                                               "        case [a]:\n            r = 4\n            return r\n"
                                               "    return r\n"),
    # a lone case read as an if: 3.12 copies the block after it to the case's end
    "lone_literal_case": ("def generated(x, t):\n    r = 0\n    match x:\n        case 0:\n            r = 1\n"
                          "    return r\n"),
    "lone_none_case": ("def generated(x, t):\n    r = 0\n    match x:\n        case None:\n            r = 1\n"
                       "    return r\n"),
    "lone_guarded_capture": ("def generated(x, t):\n    r = 0\n    match x:\n        case v0 if v0 == t:\n"
                             "            r = (1, v0)\n    return r\n"),
    # cases that raise, return their own values, chain guards, or are followed by an if
    "raising_case": ("def generated(x, t):\n    match x:\n        case 's':\n            raise ValueError(t)\n"
                     "        case 2 | 3:\n            return 0\n    return 1\n"),
    "or_patterns_returning_values": ("def generated(x, t):\n    match x:\n        case 0 | 1:\n            return t\n"
                                     "        case 2 | 3:\n            return -t\n    return x\n"),
    "chained_guards": ("def generated(x, t):\n    match x:\n        case int(v) if v > 2:\n            return v\n"
                       "        case int(v) if v < 0:\n            return -v\n        case v if t:\n"
                       "            return t\n    return None\n"),
    "if_after_match": ("def generated(x, t):\n    r = 0\n    match x:\n        case 1 | 2:\n            r = 1\n"
                       "        case None:\n            return None\n    if r:\n        return r\n    return t\n"),
    # a trailing ``case _:`` after cases that all return: its body, and the code after the statement
    # (run only when no case matched), are read as the default's
    "empty_default_after_returning_cases": ("def generated(x, t):\n    r = 0\n    match x:\n        case 1:\n"
                                            "            return 1\n        case [a]:\n            return a\n"
                                            "        case _:\n            pass\n    r = t\n    return r\n"),
    "default_after_returning_cases": ("def generated(x, t):\n    r = 0\n    match x:\n"
                                      "        case int(1 | 0 | 3):\n            r = 1\n            return r\n"
                                      "        case _:\n            r = -1\n    return r\n"),
}


def mutate(name: str) -> None:
    """Break one rewrite so that the jumps it leaves or puts back land one instruction off."""
    if name == "none":
        return
    if name == "pattern_tests":  # the tests a removed jump routed go one instruction past its target
        real = match312.keep_pattern_tests

        def off_by_one(given: list, stream: list, hops: int) -> tuple[list, int]:
            out, left = real(given, stream, hops)
            before = {ins.offset: ins.argval for ins in stream}
            position = {ins.offset: n for n, ins in enumerate(out)}
            shifted = [ins._replace(argval=out[position[ins.argval] + 1].offset)
                       if before.get(ins.offset, ins.argval) != ins.argval and position[ins.argval] + 1 < len(out)
                       else ins for ins in out]
            return shifted, left

        match312.keep_pattern_tests = off_by_one
        return
    if name == "match_ends":  # a copy's jump, or the failure path's, lands one instruction into the block
        real_jump = match312.forward_jump
        match312.forward_jump = lambda ins, target: real_jump(ins, target + 2)
        return
    if name == "lone_case_ends":  # each put-back copy loses its second instruction
        real_copies = match312.copy_lone_case_ends

        def short_copies(stream: list) -> tuple[list, int]:
            out, copied = real_copies(stream)
            highest = max((ins.offset for ins in stream), default=0)
            fresh = [ins.offset for ins in out if ins.offset > highest]
            return [ins for ins in out if not fresh or ins.offset != min(fresh)], copied

        match312.copy_lone_case_ends = short_copies
        return
    raise SystemExit(f"unknown mutation {name!r}")


def outcome(source: str) -> str:
    found = round_trip_generated(source, MATCH_INPUTS)
    return found.outcome if found.outcome == "ok" else f"{found.outcome}: {found.detail[:200]}"


def main() -> None:
    seed, count, mutation = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    mutate(mutation)
    if "--sources" in sys.argv[4:]:  # match statements drawn by the test, a JSON list on stdin
        print(json.dumps({"python": list(sys.version_info[:2]),
                          "given": [outcome(source) for source in json.load(sys.stdin)]}))
        return
    rng = random.Random(seed)
    generated: list[str] = []
    while len(generated) < count:  # drawn until enough compile: some draws are not valid Python
        source = gen_match(lambda lo, hi: rng.randint(lo, hi))
        try:
            compile(source, "<generated>", "exec", dont_inherit=True)
        except SyntaxError:
            continue
        generated.append(outcome(source))
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: outcome(text) for name, text in CONSTRUCTS.items()}, "generated": generated}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
