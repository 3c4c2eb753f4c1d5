"""``import skyplex`` loads only the errors and ``hookimpl``; every other facade name loads on first use
and is the same object as before (the interfaces' pydantic models were most of the import's cost)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import skyplex

LIGHT = """
import json, sys
import skyplex
loaded = sorted(m for m in ("pydantic", "skyplex.interfaces", "skyplex.kernel", "skyplex.config", "numpy",
                            "torch", "fastapi", "importlib.metadata") if m in sys.modules)
from skyplex import hookimpl, InvalidInputError
print(json.dumps(loaded))
"""


def test_import_loads_no_models_kernel_or_heavy_library():
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [], f"`import skyplex` loaded {out.strip()}; keep them behind the facade's __getattr__"


@pytest.mark.parametrize("name", sorted(skyplex.__all__))
def test_every_public_name_resolves_to_its_defining_object(name):
    value = getattr(skyplex, name)
    if name == "__version__":
        assert isinstance(value, str) and value
        return
    from skyplex import config, errors, hookspecs, interfaces, kernel, plugins

    homes = [m for m in (interfaces, kernel, config, plugins, errors, hookspecs) if getattr(m, name, None) is value]
    assert homes, f"skyplex.{name} is not the object its module defines"


def test_star_import_submodules_and_unknown_names():
    namespace: dict = {}
    exec("from skyplex import *", namespace)
    assert {"Kernel", "Settings", "Completion", "ModelBackend", "hookimpl"} <= set(namespace)
    assert skyplex.encoding.to_jsonable((1,)) == [1]  # submodules still reachable as attributes
    assert "Kernel" in dir(skyplex)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        skyplex.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        skyplex.__no_such_dunder__  # noqa: B018
