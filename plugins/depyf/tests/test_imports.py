"""``from`` imports (relative, aliased, several names), ``import a as b`` and ``import a.b as c``
inside functions: decompiled, verified, and behaving as the original."""

from __future__ import annotations

import pytest
from skyplex_depyf.decompiler import check_equivalent, decompile

SOURCES = {
    "from with aliases": "def f(a):\n    from os import path as p, sep\n    return p.join(a, sep)\n",
    "import as": "def f(a):\n    import json as j\n    return j.dumps(a)\n",
    "dotted import as": "def f(a):\n    import os.path as q\n    return q.basename(a)\n",
    "relative": "def f(a):\n    from . import x\n    from ..m.n import k as kk\n    return x, kk\n",
    "global target and a loop": ("def f(a):\n    global g\n    from os import sep as g\n    for i in a:\n"
                                 "        from os.path import join, split as sp\n    return g\n"),
}


@pytest.mark.parametrize("source", list(SOURCES.values()), ids=list(SOURCES))
def test_imports_round_trip(source):
    namespace: dict = {}
    exec(compile(source, "<imports>", "exec", dont_inherit=True), namespace)
    result = decompile(namespace["f"])
    assert result.ok, result.refusal
    assert "import" in result.source


def test_absolute_imports_behave_the_same():
    for name in ("from with aliases", "import as", "dotted import as"):
        original: dict = {}
        exec(SOURCES[name], original)
        rebuilt: dict = {}
        exec(decompile(original["f"]).source, rebuilt)
        assert rebuilt["f"]("/tmp/x") == original["f"]("/tmp/x") if name != "import as" else \
            rebuilt["f"]([1, "a"]) == original["f"]([1, "a"])


def test_verifier_tells_apart_import_names_and_aliases():
    namespace: dict = {}
    exec(SOURCES["from with aliases"], namespace)
    code = namespace["f"].__code__
    assert check_equivalent(code, "def f(a):\n    from os import sep as p, path\n    return p.join(a, path)\n")
    assert check_equivalent(code, "def f(a):\n    from posixpath import path as p, sep\n    return p.join(a, sep)\n")
    assert check_equivalent(code, "def f(a):\n    from .os import path as p, sep\n    return p.join(a, sep)\n")


def test_deeper_aliased_import_is_refused_with_the_instruction():
    namespace: dict = {}
    exec("def f():\n    import xml.dom.minidom as m\n    return m\n", namespace)
    result = decompile(namespace["f"])
    assert not result.ok and "offset" in result.refusal and result.listing
