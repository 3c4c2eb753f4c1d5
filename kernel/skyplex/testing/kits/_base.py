"""What every conformance kit shares."""

from __future__ import annotations

import pytest


def must_override(name: str) -> None:
    """Fail the test with a message naming the fixture the kit's subclass forgot to override."""
    pytest.fail(f"the conformance subclass must override the {name!r} fixture")
