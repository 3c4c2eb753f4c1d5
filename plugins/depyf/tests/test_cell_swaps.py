"""``a, b = x, y`` storing to cells or globals: the compiler swaps the two values and the peephole
pass keeps that SWAP (it drops it only before local stores), so the stores are read as one tuple
assignment. Two separate assignments are another program, refused by the verifier."""

from __future__ import annotations

import pytest

from skyplex_depyf.decompiler import check_equivalent, decompile

SOURCE = '''
def cells(a, b):
    p, q = a, b
    def g():
        return p - q
    return g()

def three_cells(a, b):
    p, q, r = a, b, a + b
    def g():
        return p + q * r
    x, y = p, q
    return g(), x, y

def cell_and_local(a, b):
    p, q = a, b
    def g():
        return p
    return g(), q

def globals_(a, b):
    global G1, G2
    G1, G2 = b, a
    return G1 - G2
'''
NAMESPACE: dict = {}
exec(compile(SOURCE, "<cell swaps>", "exec"), NAMESPACE)
INPUTS = [(1, 2), (5, -3), ("x", "y")]


@pytest.mark.parametrize("name", ["cells", "three_cells", "cell_and_local", "globals_"])
def test_swapped_cell_stores_round_trip(name):
    fn = NAMESPACE[name]
    result = decompile(fn)
    assert result.ok, result.refusal
    rebuilt: dict = {}
    exec(compile(result.source, "<decompiled>", "exec"), rebuilt)
    for args in INPUTS:
        try:
            expected = ("value", fn(*args))
        except Exception as exc:
            expected = ("raise", type(exc).__name__)
        try:
            got = ("value", rebuilt[name](*args))
        except Exception as exc:
            got = ("raise", type(exc).__name__)
        assert got == expected


def test_two_assignments_are_refused():
    fn = NAMESPACE["cells"]
    result = decompile(fn)
    assert "p, q = a, b" in result.source
    split = result.source.replace("p, q = a, b", "p = a\n    q = b")
    assert check_equivalent(fn.__code__, split) is not None
