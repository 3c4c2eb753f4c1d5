"""Named fault points at every durable write of propose, run, commit and undo.

Production code calls :meth:`FaultPoints.reached` just before each write that survives a crash (a
journal transaction, a blob, a file or folder change in the user's tree, a database COMMIT). The
default object does nothing. Crash tests hand the executor a subclass that stops the process at the
n-th point, and so can try every point in turn from a list recorded on a clean run; no test hook
lives in the executor's own state.
"""

from __future__ import annotations


class FaultPoints:
    """Does nothing; the seam where a test injects crashes (see module docstring)."""

    def reached(self, name: str) -> None:
        """Called just before the durable write ``name`` (e.g. ``journal:commit-intent``, ``fs:rename``)."""


#: the shared do-nothing instance
NO_FAULTS = FaultPoints()
