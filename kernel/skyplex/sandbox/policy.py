"""What a sandboxed run may do (SandboxPolicy), what came out of it (SandboxResult), and the error
raised when isolation cannot be had (SandboxUnavailable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..errors import SkyplexError

Network = Literal["none", "loopback"]
KilledBy = Literal["timeout", "cpu", "disk", "memory", "output", "signal"]


class SandboxUnavailable(SkyplexError):
    """Isolation is not available here, so nothing was run. ``reason`` says what is missing and how to fix it."""

    status_code = 503
    error_type = "sandbox_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(f"refusing to run untrusted code without isolation: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class SandboxPolicy:
    """Limits and permissions of one sandboxed run. The defaults suit short untrusted programs.

    ``network``: ``"none"`` gives the code an empty network namespace (not even the host's loopback);
    ``"loopback"`` also forwards the host loopback TCP ports listed in ``forward_ports`` (for instance a
    credential proxy), and nothing else. Limits apply per process (memory, CPU, open files) or per
    sandbox user (``processes``); ``disk_mb`` bounds how much the run may grow the workspace's file
    system (watched from outside; writes beyond ``file_size_mb`` in one file fail at once).
    Where the host lets skyplex create cgroups, the whole run (all its processes and its tmpfs pages)
    is also held to ``total_memory_mb`` (default ``memory_mb`` plus both tmpfs sizes) and ``processes``
    by the kernel. Workspaces made by ``Sandbox.temp_workspace()`` as root are size-limited file
    systems of ``disk_mb`` and ``workspace_inodes``.
    """

    network: Network = "none"
    forward_ports: tuple[int, ...] = ()
    memory_mb: int = 1024
    cpu_seconds: int = 30
    file_size_mb: int = 256
    disk_mb: int = 1024
    open_files: int = 256
    processes: int = 64
    wall_timeout_s: float = 60.0
    tmp_size_mb: int = 64
    #: bound on the run as a whole (cgroup); None means memory_mb + 2 * tmp_size_mb (/tmp and /dev/shm)
    total_memory_mb: int | None = None
    #: files and folders a temp_workspace() may hold (its file system's inode count)
    workspace_inodes: int = 65536
    max_output_bytes: int = 1 << 20
    #: host paths made visible read-only at the same path (besides the minimal system root)
    readonly_paths: tuple[str, ...] = ()
    #: uid/gid the code sees inside the sandbox
    uid: int = 1000
    gid: int = 1000
    #: host uid/gid the sandbox runs as when skyplex itself runs as root (``nobody`` by default)
    host_uid: int = 65534
    host_gid: int = 65534
    #: where the workspace appears inside the sandbox (also the working directory)
    workspace_path: str = "/workspace"
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.network not in ("none", "loopback"):
            raise ValueError(f"network must be 'none' or 'loopback', not {self.network!r}")
        if self.forward_ports and self.network != "loopback":
            raise ValueError("forward_ports needs network='loopback'")
        for name in ("memory_mb", "cpu_seconds", "file_size_mb", "disk_mb", "open_files", "processes",
                     "tmp_size_mb", "max_output_bytes", "workspace_inodes"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"SandboxPolicy.{name} must be positive, got {getattr(self, name)!r}")
        if self.total_memory_mb is not None and self.total_memory_mb <= 0:
            raise ValueError(f"SandboxPolicy.total_memory_mb must be positive, got {self.total_memory_mb!r}")
        if self.wall_timeout_s <= 0:
            raise ValueError(f"SandboxPolicy.wall_timeout_s must be positive, got {self.wall_timeout_s!r}")
        if self.uid == 0 or self.host_uid == 0:
            raise ValueError("the sandbox never runs code as root (uid 0); choose another uid")
        if not self.workspace_path.startswith("/") or self.workspace_path in ("/", "/usr", "/proc", "/dev"):
            raise ValueError(f"workspace_path must be an absolute path of its own, not {self.workspace_path!r}")

    @property
    def run_memory_bytes(self) -> int:
        """The bound on the whole run (all processes and tmpfs pages) where cgroups are available."""
        mb = self.total_memory_mb if self.total_memory_mb is not None else self.memory_mb + 2 * self.tmp_size_mb
        return mb << 20


@dataclass
class SandboxResult:
    """What a sandboxed run did. ``killed_by`` is set when the sandbox stopped it (timeout, CPU limit,
    disk limit, the run's memory bound, output limit, or a signal); ``returncode`` is then what the
    process died with. Every process the run started is dead when the result is returned."""

    returncode: int
    stdout: bytes
    stderr: bytes
    duration: float
    killed_by: KilledBy | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    disk_growth_mb: float = 0.0

    @property
    def ok(self) -> bool:
        """The program exited by itself with status 0."""
        return self.returncode == 0 and self.killed_by is None

    def text(self, stream: Literal["stdout", "stderr"] = "stdout") -> str:
        """A stream decoded as UTF-8 (undecodable bytes replaced)."""
        return getattr(self, stream).decode("utf-8", "replace")
