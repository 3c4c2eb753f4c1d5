"""Isolation for untrusted code, shared by executors (goex) and evaluators (LiveCodeBench).

    from skyplex.sandbox import Sandbox, SandboxPolicy

    result = Sandbox(SandboxPolicy(memory_mb=512, wall_timeout_s=10)).run(
        ["python3", "solution.py"], workspace=tmp_dir, stdin=b"3 4\\n")
    result.returncode, result.stdout, result.killed_by

Built on bubblewrap (namespaces, minimal read-only root, one writable workspace, no network), a seccomp
filter, rlimits and a wall timeout, as a non-root user. It fails closed: when any of that is missing,
``run`` raises :class:`SandboxUnavailable` with the reason instead of running the code unconfined.
See docs/sandbox.md. Importing this package is cheap (stdlib only).
"""

from __future__ import annotations

from .policy import SandboxPolicy, SandboxResult, SandboxUnavailable
from .runner import Sandbox, available
from .seccomp import DENIED_SYSCALLS, build_filter

__all__ = ["DENIED_SYSCALLS", "Sandbox", "SandboxPolicy", "SandboxResult", "SandboxUnavailable", "available",
           "build_filter"]
