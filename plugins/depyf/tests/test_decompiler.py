"""The decompiler: worked examples, the round-trip property on generated functions (hypothesis), real
stdlib functions, and refusals for what it cannot prove."""

from __future__ import annotations

import dis
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf.corpus import (INPUTS, gen_function, outcome_of, round_trip_generated, round_trip_stdlib,
                                  stdlib_functions)
from skyplex_depyf.decompiler import check_equivalent, decompile


def _rebuild(source: str, name: str, globals_: dict | None = None):
    namespace = dict(globals_ or {})
    exec(compile(source, "<decompiled>", "exec", dont_inherit=True), namespace)
    return namespace[name]


def shapes(a, b=2):
    x = a + b * 3
    y = [i * 2 for i in range(x) if i % 2]
    if x > 3 and y:
        return len(y)
    elif a < b:
        z = {k: v for k, v in zip(y, y)}
    else:
        z = None
    for i in range(3):
        if i == 1:
            continue
        if i == 2:
            break
        x += i
    while x > 0:
        x -= 1
    return x if z else -x


def strings_and_calls(s, sep=":"):
    parts = sep.join(str(c) for c in s if c)
    return f"{s!r}{sep}{len(s)}" + parts.upper() + str(sorted(s, key=len, reverse=True))


def closures(n):
    def inner(k):
        return k + n
    scale = lambda q: q * n  # noqa: E731
    return inner(1) + scale(2)


@pytest.mark.parametrize("fn, inputs", [
    (shapes, [(0,), (1,), (5,), (-2,), (9,)]),
    (strings_and_calls, [("abc",), ("",), (("a", "bb", "",),)]),
    (closures, [(0,), (3,), (-7,)]),
])
def test_examples_round_trip(fn, inputs):
    result = decompile(fn)
    assert result.ok, result.refusal
    rebuilt = _rebuild(result.source, fn.__name__, fn.__globals__)
    assert outcome_of(fn, inputs)(rebuilt) is None


def test_comprehension_forms_are_rendered_as_comprehensions():
    def comps(xs):
        return [x for x in xs], {x for x in xs if x}, {x: 1 for x in xs}, sum(x * y for x in xs for y in xs)

    result = decompile(comps)
    source = result.source
    assert source is not None, result.refusal
    assert "[x for x in xs]" in source and "{x for x in xs if x}" in source and "{x: 1 for x in xs}" in source
    assert "for x in xs for y in xs" in source


def test_keyword_arguments_survive():
    def kw(d):
        return d.get(1, default=None), sorted(d, key=abs, reverse=True)

    source = decompile(kw).source
    assert source is not None and "key=abs, reverse=True" in source


def test_refusal_names_the_instruction_and_keeps_a_listing():
    def guarded(x):
        try:
            return 1 / x
        except ZeroDivisionError:
            return 0

    result = decompile(guarded)
    if result.ok:  # try/except may be supported: then it must be right
        assert outcome_of(guarded, [(0,), (2,)])(_rebuild(result.source, "guarded")) is None
    else:
        assert result.refusal and "offset" in result.refusal
        assert "RETURN_VALUE" in result.listing
        assert result.text().startswith("# could not decompile guarded:")
        compile(result.text(), "<fallback>", "exec")  # the fallback is valid Python (comments)


def test_corrupted_bytecode_is_refused_not_raised():
    import random

    code = shapes.__code__
    rng = random.Random(3)
    for trial in range(60):
        raw = bytearray(code.co_code)
        for _ in range(1 + trial % 4):
            raw[rng.randrange(0, len(raw), 2) + rng.randrange(2)] = rng.randrange(256)
        broken = code.replace(co_code=bytes(raw))
        result = decompile(broken)  # must not raise, whatever the bytes
        if result.ok:  # a corruption may still be valid code: then the source must reproduce it
            assert check_equivalent(broken, result.source) is None


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="function or code object"):
        decompile(42)


def test_verifier_catches_a_different_program():
    def original(a):
        return a + 1

    assert check_equivalent(original.__code__, "def original(a):\n    return a + 1\n") is None
    assert "differs" not in (check_equivalent(original.__code__, "def original(a):\n    return a - 1\n") or "differs")
    assert check_equivalent(original.__code__, "def original(a):\n    return a - 1\n") is not None
    assert check_equivalent(original.__code__, "def original(a:\n") .startswith("source does not compile")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_generated_functions_round_trip_or_refuse(data):
    source = gen_function(lambda lo, hi: data.draw(st.integers(lo, hi)))
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome in ("ok", "refused"), f"silently wrong: {outcome.detail}\n{source}"


def test_generated_corpus_rate_reported(record_property):
    import random

    rng = random.Random(20)
    outcomes = [round_trip_generated(gen_function(lambda lo, hi: rng.randint(lo, hi))) for _ in range(150)]
    wrong = [o for o in outcomes if o.outcome == "wrong"]
    ok = sum(o.outcome == "ok" for o in outcomes)
    record_property("generated_round_trip_rate", ok / len(outcomes))
    print(f"generated corpus: {ok}/{len(outcomes)} round-trip, {len(wrong)} silently wrong")
    assert not wrong, wrong[0].detail
    assert ok > 0


def test_stdlib_corpus_has_no_silently_wrong_function(record_property):
    outcomes = [round_trip_stdlib(name, fn) for name, fn in stdlib_functions()]
    wrong = [o for o in outcomes if o.outcome == "wrong"]
    ok = sum(o.outcome == "ok" for o in outcomes)
    record_property("stdlib_round_trip_rate", ok / len(outcomes))
    print(f"stdlib corpus: {ok}/{len(outcomes)} round-trip, {len(wrong)} silently wrong")
    assert not wrong, [(o.name, o.detail) for o in wrong[:5]]
    assert ok > 0


def test_every_result_is_valid_python(record_property):
    for name, fn in stdlib_functions(("textwrap", "heapq")):
        text = decompile(fn).text()
        compile(text, name, "exec", dont_inherit=True)


def test_code_of_a_nested_closure_is_decompiled_with_its_cells():
    def outer(n):
        def adder(k):
            return k + n
        return adder

    inner_code = next(c for c in outer.__code__.co_consts if isinstance(c, types.CodeType))
    result = decompile(inner_code)
    assert result.ok, result.refusal
    assert "def adder(k):" in result.source and dis.code_info(inner_code)


# as text: pytest rewrites the asserts of functions defined in test modules
STATEMENTS = """
def statements(a):
    assert a > 0, "positive"
    x = y = a + 1
    import os.path
    if a > 100:
        raise ValueError(a) from None
    return x, y, os.path.sep
"""


def test_assert_raise_import_and_chained_targets_round_trip():
    statements = _rebuild(STATEMENTS, "statements")
    result = decompile(statements)
    assert result.ok, result.refusal
    assert "assert a > 0, 'positive'" in result.source and "x = y = a + 1" in result.source
    assert "raise ValueError(a) from None" in result.source and "import os.path" in result.source
    rebuilt = _rebuild(result.source, "statements")
    assert outcome_of(statements, [(1,), (0,), (-5,), (101,), (50,)])(rebuilt) is None


def handled(x):
    try:
        y = 10 // x
    except ZeroDivisionError:
        y = -1
    except (TypeError, ValueError) as error:
        y = str(error)
    try:
        return int(y) + 1
    except:  # noqa: E722
        pass
    return 0


def test_try_except_round_trips():
    result = decompile(handled)
    assert result.ok, result.refusal
    assert "except (TypeError, ValueError) as error:" in result.source and "except:" in result.source
    assert outcome_of(handled, [(0,), (3,), ("a",), (None,), (-4,)])(_rebuild(result.source, "handled")) is None


def test_try_with_finally_is_refused_or_right():
    source = "def f(x):\n    try:\n        return 1 // x\n    finally:\n        x = 0\n"
    fn = _rebuild(source, "f")
    result = decompile(fn)
    if result.ok:
        assert outcome_of(fn, [(0,), (2,)])(_rebuild(result.source, "f")) is None
    else:
        assert "offset" in result.refusal or "differs" in result.refusal


def _mutants(source: str):
    """Single-point semantic mutations of ``source``: an operator, a comparison, a constant, a name."""
    import ast

    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    # defaults are shown from the function object, not rebuilt from bytecode: mutate the body only
    in_signature = {id(n) for a in ast.walk(tree) if isinstance(a, ast.arguments) for n in ast.walk(a)}
    for k, node in enumerate(nodes):
        if id(node) in in_signature:
            continue
        replacement = None
        if isinstance(node, ast.BinOp):
            replacement = ("op", ast.Sub() if not isinstance(node.op, ast.Sub) else ast.Add())
        elif isinstance(node, ast.Compare):
            replacement = ("ops", [ast.NotEq() if not isinstance(node.ops[0], ast.NotEq) else ast.Eq()]
                           + node.ops[1:])
        elif isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            replacement = ("value", node.value + 1)
        if replacement is None:
            continue
        mutated = ast.parse(source)
        target = list(ast.walk(mutated))[k]
        setattr(target, *replacement)
        yield ast.unparse(mutated)


def test_verifier_rejects_every_single_point_mutation():
    """The safety net itself: a decompiled source changed in one operator, comparison or constant
    must never pass as equivalent to the original."""
    checked = 0
    for name, fn in stdlib_functions(("colorsys", "bisect", "heapq", "textwrap")):
        result = decompile(fn)
        if not result.ok:
            continue
        for mutant in _mutants(result.source):
            assert check_equivalent(fn.__code__, mutant) is not None, f"{name}: mutant passed\n{mutant}"
            checked += 1
    assert checked > 50
