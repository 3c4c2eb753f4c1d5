"""Waiting in tests for something another thread or process brings about."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], object], what: str, limit_s: float = 600.0, interval_s: float = 0.02) -> None:
    """Poll ``condition()`` every ``interval_s`` until it is true.

    The limit only keeps a broken build from hanging the suite (it is not a timing assertion);
    past it, an ``AssertionError`` says what was awaited.
    """
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval_s)
