"""Shared helpers for the depyf tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "depyf.md"


@pytest.fixture
def docs_text() -> str:
    """docs/plugins/depyf.md, whose commands the tests run as written."""
    return DOCS.read_text(encoding="utf-8")
