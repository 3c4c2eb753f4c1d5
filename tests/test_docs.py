"""docs/hooks.md must document every hook in hookspecs.py, with its exact signature, and no others."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from skyplex import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def hookspec_signatures() -> dict[str, str]:
    return {
        name: f"{name}({', '.join(inspect.signature(fn).parameters)})"
        for name, fn in vars(hookspecs).items()
        if name.startswith("skyplex_") and callable(fn)
    }


def documented_headings() -> dict[str, str]:
    text = (DOCS / "hooks.md").read_text()
    return {m.group(1): m.group(0)[4:] for m in re.finditer(r"^### (skyplex_\w+)\(.*\)$", text, re.M)}


def test_every_hook_is_documented_with_its_signature():
    specs, docs = hookspec_signatures(), documented_headings()
    missing = sorted(set(specs) - set(docs))
    assert not missing, f"hooks missing from docs/hooks.md: {missing}"
    for name, sig in specs.items():
        assert docs[name] == sig, f"docs/hooks.md heading for {name} says {docs[name]!r}, code says {sig!r}"


def test_no_documented_hook_is_stale():
    stale = sorted(set(documented_headings()) - set(hookspec_signatures()))
    assert not stale, f"docs/hooks.md documents hooks that do not exist: {stale}"


def test_every_hook_has_a_docstring():
    for name in hookspec_signatures():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"
