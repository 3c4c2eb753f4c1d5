"""A ``finally`` body that ends in a nested ``try``. The handler's copy of the body ends in
``RERAISE 0``, but the compiler copies that re-raise into each exit of the nested ``try`` (in place of
the jump the normal path's copy has there), so the handler's copy ends in the nested statement's
clean-up instead. Such bodies are read from the normal path's copy and proven by the recompile check,
which compiles both copies again; what is not proven is refused, never wrong."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf import handlers
from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated

INNER = {
    "except": "        try:\n            x = 10 // a\n        except ZeroDivisionError:\n            x = -1\n",
    "except as": "        try:\n            x = 10 // a\n        except ZeroDivisionError as err:\n            x = -2\n",
    "except tuple": ("        try:\n            x = 10 // a\n        except (ZeroDivisionError, TypeError):\n"
                     "            pass\n"),
    "except else": ("        try:\n            x = 10 // a\n        except ZeroDivisionError:\n            x = 1\n"
                    "        else:\n            z = x + 1\n"),
    "two clauses": ("        try:\n            x = 10 // a\n        except TypeError:\n            x = 1\n"
                    "        except ZeroDivisionError:\n            x = 2\n"),
    "after a statement": "        y += 1\n        try:\n            x = 10 // b\n        except ZeroDivisionError:\n            x = 3\n",
    # a nested finally keeps its RERAISE 0 (its normal exit jumps past the outer statement)
    "try/finally": "        try:\n            x = 10 // a\n        finally:\n            z += 1\n",
    "try/except/finally": ("        try:\n            x = 10 // a\n        except ZeroDivisionError as err:\n"
                           "            x = 5\n        finally:\n            z += 1\n"),
}
OUTER = {
    "try/finally": "    try:\n        y = 10 // b\n    finally:\n{inner}",
    "try/except/finally": ("    try:\n        y = 10 // b\n    except ZeroDivisionError:\n        y = 5\n"
                           "    finally:\n{inner}"),
    "in a loop": "    for i in range(2):\n        try:\n            y += 10 // (b - i)\n        finally:\n{inner_deeper}",
}


def _body(outer: str, inner: str) -> str:
    deeper = "".join("    " + line + "\n" for line in inner.splitlines())
    return OUTER[outer].format(inner=inner, inner_deeper=deeper)


@pytest.mark.parametrize("outer", list(OUTER))
@pytest.mark.parametrize("inner", list(INNER))
def test_a_finally_body_ending_in_a_try_round_trips(outer, inner):
    outcome = round_trip_generated(generated_function(_body(outer, INNER[inner])), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_broken_rule_is_refused_not_wrong(monkeypatch):
    """Mutation: a rule that takes any handler for one ending in a nested try (or none) is refused
    by the recompile check or by the other rules, never turned into a different program."""
    sources = [generated_function(_body(o, i)) for o in OUTER for i in INNER.values()]
    sources.append(generated_function("    try:\n        y = 10 // b\n    finally:\n        x = 1\n"))
    for broken in (lambda *args: True, lambda *args: False):
        monkeypatch.setattr(handlers, "_ends_in_nested_try", broken)
        for source in sources:
            assert round_trip_generated(source, INPUTS).outcome in ("ok", "refused")


_STMT = st.sampled_from(["x = 10 // a", "y += b", "z = (x if a else y)", "pass", "x ^= 10 // (b - 1)"])
#: ``try: pass`` protects nothing (no table entry): another shape, refused
_PROTECTED = _STMT.filter(lambda s: s != "pass")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_PROTECTED, before=st.lists(_STMT, max_size=2), inner=_PROTECTED, handler=_STMT,
       clause=st.sampled_from(["except ZeroDivisionError:", "except ZeroDivisionError as err:",
                               "except (TypeError, ZeroDivisionError):"]),
       orelse=st.one_of(st.none(), _STMT), final=st.one_of(st.none(), _STMT), outer_except=st.booleans())
def test_finally_bodies_ending_in_a_try_round_trip_or_are_refused(body, before, inner, handler, clause, orelse,
                                                                   final, outer_except):
    lines = ["    try:", f"        {body}"]
    if outer_except:
        lines += ["    except ZeroDivisionError:", "        y = 7"]
    lines += ["    finally:"] + [f"        {s}" for s in before]
    lines += ["        try:", f"            {inner}", f"        {clause}", f"            {handler}"]
    if orelse is not None:
        lines += ["        else:", f"            {orelse}"]
    if final is not None:
        lines += ["        finally:", f"            {final}"]
    outcome = round_trip_generated(generated_function("\n".join(lines) + "\n"), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail
    assert outcome.outcome == "ok", outcome.detail


RETURNING_FINALLY = {
    "followed by a try": ("    try:\n        y *= a\n    finally:\n        if y:\n            return 6\n"
                          "    try:\n        y = 10 // b\n    except ZeroDivisionError:\n        z ^= 2\n"),
    "with an except clause, followed by a try": (
        "    try:\n        y = 10 // a\n    except ZeroDivisionError:\n        y = 1\n    finally:\n"
        "        if b > 2:\n            return b\n    try:\n        z = 10 // b\n    except ZeroDivisionError as err:\n"
        "        z = -1\n"),
    "returning before a nested try": (
        "    try:\n        y = 10 // b\n    finally:\n        if a > 5:\n            return a\n        try:\n"
        "            x = 10 // a\n        except ZeroDivisionError:\n            x = 4\n"),
}


@pytest.mark.parametrize("body", list(RETURNING_FINALLY.values()), ids=list(RETURNING_FINALLY))
def test_a_finally_body_that_may_return_round_trips(body):
    """The handler's copy of ``if c: return k`` drops the exception first (``POP_TOP; POP_EXCEPT``):
    read as an ``except`` clause it takes a value the stack does not hold, which is a refusal of
    that reading (not an internal error), so the ``finally`` reading is tried next."""
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_stack_underflow_is_a_refusal_naming_the_instruction(monkeypatch):
    """Mutation: a rule that pops more than the stack holds gives a refusal naming the instruction,
    never an exception into the caller nor a guessed program."""
    from skyplex_depyf import executor as executor_module
    from skyplex_depyf.decompiler import decompile

    original = executor_module.Executor.step

    def underflowing(self, i, hi, ins, stack, stmts, quiet_start):
        if ins.opname == "BINARY_OP":
            [].pop()
        return original(self, i, hi, ins, stack, stmts, quiet_start)

    monkeypatch.setattr(executor_module.Executor, "step", underflowing)
    fn = define_generated(generated_function("    y = a + b\n"))
    result = decompile(fn)
    assert not result.ok
    assert "BINARY_OP" in result.refusal and "stack does not hold" in result.refusal


COPIED_EXITS = {
    "if/else ending in a with": (
        "    try:\n        z -= 10 // a\n    finally:\n        if b > 2:\n            y += b\n        else:\n"
        "            with __import__('contextlib').nullcontext(b) as w:\n                z *= w\n"),
    "with ending the body": (
        "    try:\n        z = 10 // a\n    finally:\n        y = 3\n"
        "        with __import__('contextlib').nullcontext(a):\n            x = a + b\n"),
    "with in an except clause's finally": (
        "    try:\n        z = 10 // a\n    except ZeroDivisionError:\n        z = -1\n    finally:\n"
        "        if a:\n            with __import__('contextlib').nullcontext(a):\n                x = a\n"
        "        else:\n            y = b\n"),
}


@pytest.mark.parametrize("body", list(COPIED_EXITS.values()), ids=list(COPIED_EXITS))
def test_a_finally_body_whose_handler_copy_has_copied_exits_round_trips(body):
    """The handler's copy of these bodies ends arms and ``with`` exits in copies of its RERAISE 0,
    which the rules do not read there; the body is read from the normal path's copy and the
    recompile check, which compiles both copies again, proves the handler's copy."""
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_normal_copy_read_wrongly_is_refused_not_wrong(monkeypatch):
    """Mutation: when the normal path's copy is read as other statements (here its last statement
    dropped), the handler's copy no longer stands behind it, and the recompile check must refuse."""
    from skyplex_depyf import executor as executor_module

    original = executor_module.Executor.block

    def dropping(self, lo, hi, stack):
        stmts, rest = original(self, lo, hi, stack)
        before_handler = [ins.opname for ins in self.instrs[hi:hi + 2]]
        if stmts and (before_handler[:1] == ["PUSH_EXC_INFO"] or before_handler == ["JUMP_FORWARD", "PUSH_EXC_INFO"]):
            stmts = stmts[:-1]  # the statements before a handler: a finally body's normal copy among them
        return stmts, rest

    monkeypatch.setattr(executor_module.Executor, "block", dropping)
    outcomes = [round_trip_generated(generated_function(body), INPUTS).outcome for body in COPIED_EXITS.values()]
    assert set(outcomes) == {"refused"}


NESTED_AT_START = {
    "inner clause raises, outer body returns": (
        "    try:\n        try:\n            x = 10 // a\n        except ZeroDivisionError:\n"
        "            raise ValueError('zero') from None\n        y = 2\n        return (x, y)\n"
        "    except (TypeError, AttributeError):\n        raise\n"),
    "inner clause assigns, outer body returns": (
        "    try:\n        try:\n            x = 10 // a\n        except ZeroDivisionError:\n            x = 0\n"
        "        return x + 10 // b\n    except ZeroDivisionError:\n        y = -1\n"),
}


@pytest.mark.parametrize("body", list(NESTED_AT_START.values()), ids=list(NESTED_AT_START))
def test_a_try_nested_at_the_start_of_a_body_that_returns_round_trips(body):
    """The outer body ends in a return, so the outer handler's range is split; a first reading of
    the body up to the split claims the nested try and is abandoned, and must release it for the
    reading that follows (posixpath.commonpath has this shape)."""
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


LOOP_RETURNS = {
    "for loop": ("    for i in range(3):\n        try:\n            x ^= 10 // (a - i)\n        finally:\n"
                 "            if i == b:\n                return (a, b, x, y, z)\n        z = i\n"),
    "while loop": ("    k = 0\n    while k < 3:\n        k += 1\n        try:\n            x += 10 // (a - k)\n"
                   "        finally:\n            if k == b:\n                return (x, k)\n"),
    "with an except clause": ("    for i in range(3):\n        try:\n            x ^= 10 // (b - i)\n"
                              "        except ZeroDivisionError:\n            y += 1\n        finally:\n"
                              "            if x > 5:\n                return x\n"),
}


@pytest.mark.parametrize("body", list(LOOP_RETURNS.values()), ids=list(LOOP_RETURNS))
def test_a_return_in_a_finally_body_inside_a_loop_round_trips(body):
    """Inside a loop, the handler's copy of ``return v`` drops the exception and then the loop's
    iterator (``SWAP; POP_TOP; SWAP; POP_EXCEPT; SWAP; POP_TOP``): four instructions the normal
    path's copy does not have, so the copies are matched with that return counted."""
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


LEAVING_LAST = {
    "if return ending the body": "    try:\n        if a > 1:\n            return 10 // b\n    finally:\n        y = a\n",
    "if break ending the body": ("    for i in range(3):\n        try:\n            if i == a:\n                break\n"
                                 "        finally:\n            y += i\n"),
    "if continue ending the body": ("    for i in range(3):\n        try:\n            if i == a:\n"
                                    "                continue\n        finally:\n            y += i\n"),
    "if return before more statements": ("    try:\n        if a > 1:\n            return a\n        x = 10 // b\n"
                                         "    finally:\n        y = a\n"),
}


@pytest.mark.parametrize("body", list(LEAVING_LAST.values()), ids=list(LEAVING_LAST))
def test_a_try_body_ending_in_an_if_that_leaves_round_trips(body):
    """``try: if c: return v`` then ``finally``: the return and its copy of the finally body stand
    past the protected range, and the test jumps over them to the normal path's copy, which is
    where the body ends."""
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail
