"""Shared helpers for the depyf tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations


import pytest
from skyplex.testing.docs import plugin_doc

DOCS = plugin_doc("depyf", __file__)


@pytest.fixture
def docs_text() -> str:
    """docs/plugins/depyf.md, whose commands the tests run as written."""
    return DOCS.read_text(encoding="utf-8")
