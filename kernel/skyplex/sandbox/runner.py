"""Sandbox: run a command under bubblewrap with a seccomp filter, rlimits, a wall timeout and a non-root uid.

The sandbox sees a minimal read-only system (``/usr`` and the usual symlinks into it, a synthetic
``/etc``), one writable workspace, a private ``/tmp`` (tmpfs), its own ``/proc`` and ``/dev``, and no
network. It runs in fresh user, PID, IPC, UTS, cgroup and network namespaces, so it cannot see or signal
host processes. When the command ends (or is killed) the runner itself SIGKILLs the namespace's init
from the host (found through bubblewrap's ``--info-fd``, held as a pidfd), which ends every process in
the namespace whatever the code did inside; where a cgroup can be made, the run's cgroup is killed as
well and bounds its memory and process count. The init's ``/proc/1/mem`` is masked so code cannot
rewrite it. If any piece is missing the run is refused (:class:`SandboxUnavailable`) rather than degraded.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import cgroup
from .forward import INSIDE_DIR, RELAY_SOURCE, PortForwarder
from .lifetime import NamespaceInit
from .policy import KilledBy, SandboxPolicy, SandboxResult, SandboxUnavailable
from .seccomp import SeccompUnsupported, build_filter
from .workspace import chown_tree, mount_limited_fs, stale_owned_folders, stale_workspace_mounts, umount

log = logging.getLogger(__name__)

#: host paths mounted read-only when they exist (merged-/usr systems make /bin etc. symlinks into /usr)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: the few files from the host's /etc that programs need to start; nothing with secrets in it
ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "alternatives", "ssl/certs",
             "ca-certificates.conf", "mime.types")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_POLL_S = 0.05


class Sandbox:
    """Runs commands under one :class:`SandboxPolicy`. Cheap to create; thread-safe to share.

    ``Sandbox(policy).run(["python3", "-c", "print(1)"], workspace=path)``. The workspace is handed to
    the sandbox: when skyplex runs as root its files are chowned to the policy's ``host_uid`` so that the
    (unprivileged) sandbox user can write them.
    """

    def __init__(self, policy: SandboxPolicy | None = None, *, bwrap: str | None = None) -> None:
        self.policy = policy or SandboxPolicy()
        self._bwrap = bwrap or shutil.which("bwrap") or "/usr/bin/bwrap"
        self._checked: tuple[bool, str] | None = None
        self._lock = threading.Lock()

    # availability ---------------------------------------------------------------------------------
    def check(self) -> tuple[bool, str]:
        """(True, "") when a trivial program runs under this sandbox here, else (False, why).

        Only success is cached: a probe that failed for a passing reason (killed on a loaded
        machine) is tried again on the next call instead of disabling this sandbox for good.
        """
        with self._lock:
            if self._checked is not None:
                return self._checked
            result = self._probe()
            if result[0]:
                self._checked = result
            return result

    def _probe(self) -> tuple[bool, str]:
        if not os.path.exists(self._bwrap):
            return False, ("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; "
                           "Fedora: dnf install bubblewrap)")
        if os.geteuid() == 0 and not shutil.which("setpriv"):
            return False, "running as root needs setpriv (util-linux) to drop to the sandbox user"
        if not os.path.exists("/usr/bin/prlimit"):
            return False, "prlimit (util-linux) is missing from /usr/bin; it applies the resource limits"
        try:
            build_filter()
        except SeccompUnsupported as exc:
            return False, str(exc)
        with tempfile.TemporaryDirectory(prefix="skyplex-sandbox-probe-") as tmp:
            try:
                res = self._run(["/usr/bin/true"], Path(tmp), None, self.policy.wall_timeout_s, {}, probe=True)
            except SandboxUnavailable as exc:
                return False, exc.reason
        if res.returncode != 0:
            msg = res.text("stderr").strip() or f"exit status {res.returncode}"
            hint = ""
            if "namespace" in msg or "Operation not permitted" in msg:
                hint = (" (unprivileged user namespaces look disabled: check sysctl "
                        "kernel.unprivileged_userns_clone / user.max_user_namespaces, or AppArmor's "
                        "kernel.apparmor_restrict_unprivileged_userns)")
            return False, f"bubblewrap could not start a sandbox: {msg}{hint}"
        return True, ""

    def require(self) -> None:
        """Raise :class:`SandboxUnavailable` unless :meth:`check` passes."""
        ok, reason = self.check()
        if not ok:
            raise SandboxUnavailable(reason)

    @contextmanager
    def temp_workspace(self, prefix: str = "skyplex-ws-", *, parent: str | os.PathLike[str] | None = None
                       ) -> Iterator[Path]:
        """A fresh empty workspace the sandbox user can reach (under ``parent``, default the system temp
        dir), removed afterwards. As root it is its own tmpfs of ``disk_mb`` bytes and
        ``workspace_inodes`` inodes, so the kernel refuses writes beyond them (ENOSPC) at once."""
        # the maker's pid in the name lets a later call unmount what a killed process left mounted
        path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
        mounted = False
        try:
            if os.geteuid() == 0:
                for stale in stale_workspace_mounts(path.parent):
                    umount(stale)
                    shutil.rmtree(stale, ignore_errors=True)
                mounted = mount_limited_fs(path, self.policy.disk_mb, self.policy.workspace_inodes)
            yield path
        finally:
            if mounted:
                umount(path)
            shutil.rmtree(path, ignore_errors=True)

    # running --------------------------------------------------------------------------------------
    def run(
        self,
        cmd: Sequence[str],
        *,
        workspace: str | os.PathLike[str],
        stdin: bytes | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxResult:
        """Run ``cmd`` (an argv list; use ``["sh", "-c", script]`` for shell) inside the sandbox.

        ``workspace`` is the one writable host directory, mounted at ``policy.workspace_path`` and used
        as the working directory. ``timeout`` (seconds) overrides the policy's wall timeout. ``env`` adds
        variables to a clean environment (the host's is never passed through).
        Raises :class:`SandboxUnavailable` when isolation cannot be set up, and ``PermissionError``
        (``skyplex.sandbox.workspace.PlantedLink``) when the workspace holds a hard link to a file the
        sandbox user may not read; nothing runs then.
        """
        if not cmd:
            raise ValueError("empty command")
        self.require()
        ws = Path(workspace).resolve()
        if not ws.is_dir():
            raise FileNotFoundError(f"sandbox workspace {ws} is not a directory")
        if os.geteuid() == 0:
            blocked = _unreachable_parent(ws, self.policy.host_uid, self.policy.host_gid)
            if blocked is not None:
                raise ValueError(
                    f"the sandbox user (uid {self.policy.host_uid}) cannot reach the workspace {ws}: {blocked} "
                    "is not searchable by it; create workspaces with Sandbox.temp_workspace() or under a "
                    "world-searchable folder such as /tmp"
                )
        return self._run(list(cmd), ws, stdin, timeout or self.policy.wall_timeout_s, dict(env or {}))

    def _run(self, cmd: list[str], ws: Path, stdin: bytes | None, timeout: float, env: dict[str, str],
             *, probe: bool = False) -> SandboxResult:
        p = self.policy
        as_root = os.geteuid() == 0
        owner = (p.host_uid, p.host_gid) if as_root else None
        if owner is not None:
            chown_tree(ws, owner)
        fds: list[int] = []
        forwarder: PortForwarder | None = None
        fwd_dir: tempfile.TemporaryDirectory[str] | None = None
        try:
            argv = self._bwrap_prefix(owner)
            info_r, info_w = os.pipe2(os.O_CLOEXEC)
            fds.append(info_w)
            argv += ["--info-fd", str(info_w)]
            argv += self._mounts(ws, fds)
            seccomp_fd = _data_fd(build_filter())
            fds.append(seccomp_fd)
            argv += ["--seccomp", str(seccomp_fd)]
            argv += ["--clearenv"]
            for key, value in {"PATH": DEFAULT_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                               "USER": "sandbox", **p.extra_env, **env}.items():
                argv += ["--setenv", key, value]
            if p.forward_ports:
                fwd_dir = tempfile.TemporaryDirectory(prefix="skyplex-fwd-")
                if owner is not None:
                    os.chown(fwd_dir.name, *owner)
                forwarder = PortForwarder(Path(fwd_dir.name), p.forward_ports, owner=owner)
                dfd = os.open(fwd_dir.name, os.O_PATH | os.O_DIRECTORY)
                fds.append(dfd)
                argv += ["--bind-fd", str(dfd), INSIDE_DIR]
            # the root itself is a tmpfs bwrap made; freeze it so only the workspace and /tmp are writable
            argv += ["--remount-ro", "/", "--", *self._limited(cmd)]
            if p.forward_ports:
                relay = ["/usr/bin/python3", "-I", "-S", "-c", RELAY_SOURCE, *map(str, p.forward_ports), "--"]
                if not os.path.exists(relay[0]):
                    raise SandboxUnavailable("forward_ports needs /usr/bin/python3 inside the sandbox for its relay")
                sep = argv.index("--")
                argv = argv[: sep + 1] + relay + argv[sep + 1:]
            return self._spawn(argv, fds, stdin, timeout, ws, info_r, probe=probe)
        finally:
            for fd in fds:
                os.close(fd)
            if forwarder is not None:
                forwarder.close()
            if fwd_dir is not None:
                fwd_dir.cleanup()

    def _bwrap_prefix(self, owner: tuple[int, int] | None) -> list[str]:
        p = self.policy
        argv: list[str] = []
        if owner is not None:
            # bwrap then runs unprivileged as the host sandbox user, so the code's processes really are
            # non-root on the host (RLIMIT_NPROC applies, signals to root processes are refused)
            argv += ["setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--clear-groups",
                     "--inh-caps=-all", "--no-new-privs"]
        argv += [self._bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
                 "--uid", str(p.uid), "--gid", str(p.gid), "--hostname", "sandbox",
                 "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        return argv

    def _mounts(self, ws: Path, fds: list[int]) -> list[str]:
        p = self.policy
        argv: list[str] = []
        for path in SYSTEM_PATHS:
            if os.path.islink(path):
                argv += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                argv += ["--ro-bind", path, path]
        # one prepared folder instead of a mount per file: every mount costs start-up time
        argv += ["--ro-bind", _etc_folder(self._etc_data()), "/etc"]
        # the namespace's init (bubblewrap's reaper, pid 1) has no seccomp filter and runs as the same
        # user: its memory must not be writable from inside, or code could take it over
        argv += ["--proc", "/proc", "--ro-bind", "/dev/null", "/proc/1/mem",
                 "--ro-bind", "/dev/null", "/proc/1/task/1/mem", "--dev", "/dev",
                 "--size", str(p.tmp_size_mb << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
                 "--size", str(p.tmp_size_mb << 20), "--tmpfs", "/tmp", "--dir", "/run"]
        for path in p.readonly_paths:
            if not os.path.exists(path):
                raise SandboxUnavailable(f"readonly path {path} does not exist on this host")
            argv += ["--ro-bind", path, path]
        wfd = os.open(ws, os.O_PATH | os.O_DIRECTORY)
        fds.append(wfd)
        argv += ["--bind-fd", str(wfd), p.workspace_path, "--chdir", p.workspace_path]
        return argv

    def _etc_data(self) -> dict[str, str]:
        p = self.policy
        return {
            "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{p.uid}:{p.gid}:sandbox:/tmp:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "group": f"root:x:0:\nsandbox:x:{p.gid}:\nnogroup:x:65534:\n",
            "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
            "resolv.conf": "",  # no DNS servers: names do not resolve, and there is no network anyway
        }

    def _limited(self, cmd: list[str]) -> list[str]:
        """``cmd`` wrapped in prlimit, which sets the rlimits inside the sandbox just before exec."""
        p = self.policy
        return ["/usr/bin/prlimit",
                f"--as={p.memory_mb << 20}",
                f"--data={p.memory_mb << 20}",
                # soft limit sends SIGXCPU (catchable), the hard one a second later SIGKILL
                f"--cpu={p.cpu_seconds}:{p.cpu_seconds + 1}",
                f"--fsize={p.file_size_mb << 20}",
                f"--nofile={p.open_files}",
                f"--nproc={p.processes}",
                "--core=0",
                "--", *cmd]

    def _spawn(self, argv: list[str], fds: list[int], stdin: bytes | None, timeout: float, ws: Path,
               info_r: int, *, probe: bool) -> SandboxResult:
        p = self.policy
        start_free = _free_bytes(ws)
        started = time.monotonic()
        group = cgroup.RunGroup(p.run_memory_bytes, p.processes) if cgroup.available() else None
        init = NamespaceInit(info_r)
        try:
            try:
                proc = subprocess.Popen(
                    group.wrap(argv) if group is not None else argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=fds, start_new_session=True,
                    # bwrap's own environment stays readable as /proc/1/environ inside: give it nothing
                    cwd="/", env={"PATH": DEFAULT_PATH},
                )
            except OSError as exc:
                raise SandboxUnavailable(f"cannot start bubblewrap ({argv[0]}): {exc.strerror}") from None
            fds.remove(_info_w(argv))
            os.close(_info_w(argv))
            init.start(proc.pid)
            return self._watch(proc, stdin, timeout, ws, start_free, started, group, init, argv, probe)
        finally:
            # whatever happened inside (the init rewritten, processes detached, signals ignored), the
            # namespace ends with its init, and the cgroup is killed and removed
            init.kill()
            if group is not None:
                group.close()

    def _watch(self, proc: subprocess.Popen, stdin: bytes | None, timeout: float, ws: Path, start_free: int,
               started: float, group: cgroup.RunGroup | None, init: NamespaceInit, argv: list[str],
               probe: bool) -> SandboxResult:
        p = self.policy
        out = _Collector(proc.stdout, p.max_output_bytes)
        err = _Collector(proc.stderr, p.max_output_bytes)
        if stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        killed_by: KilledBy | None = None
        growth = 0
        deadline = started + timeout
        exited = os.pidfd_open(proc.pid)  # readable when bubblewrap exits: no polling sleeps
        try:
            while not select.select([exited], [], [], 0)[0]:
                now = time.monotonic()
                growth = max(growth, start_free - _free_bytes(ws))
                if now >= deadline:
                    killed_by = "timeout"
                elif growth > (p.disk_mb << 20):
                    killed_by = "disk"
                if killed_by:
                    _kill_group(proc)
                    break
                select.select([exited], [], [], min(_POLL_S, max(deadline - now, 0.001)))
        finally:
            os.close(exited)
        rc = proc.wait()
        init.kill()
        if group is not None:
            group.kill_all()
        out.join()
        err.join()
        duration = time.monotonic() - started
        if killed_by is None and group is not None and group.memory_events():
            killed_by = "memory"
        if killed_by is None:
            killed_by = _classify_exit(rc, err.data)
        if not probe:
            log.debug("sandbox run %s: rc=%s killed_by=%s in %.3fs", argv[-1][:60], rc, killed_by, duration)
        return SandboxResult(returncode=rc, stdout=out.data, stderr=err.data, duration=duration,
                             killed_by=killed_by, stdout_truncated=out.truncated, stderr_truncated=err.truncated,
                             disk_growth_mb=round(max(growth, 0) / (1 << 20), 2))


def available(policy: SandboxPolicy | None = None) -> tuple[bool, str]:
    """(True, "") when untrusted code can be sandboxed here; otherwise (False, the reason and a fix)."""
    return Sandbox(policy).check()


# helpers ----------------------------------------------------------------------------------------------
class _Collector:
    """Reads a pipe to its end in a thread, keeping the first ``limit`` bytes (the rest is drained)."""

    def __init__(self, pipe, limit: int) -> None:
        self._pipe, self._limit = pipe, limit
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self._pipe.read1(65536), b""):
            room = self._limit - self._size
            if room > 0:
                self._chunks.append(chunk[:room])
                self._size += min(room, len(chunk))
            if len(chunk) > room:
                self.truncated = True
        self._pipe.close()

    def join(self) -> None:
        self._thread.join(timeout=5)

    @property
    def data(self) -> bytes:
        return b"".join(self._chunks)


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except OSError:  # the program exited without reading all of it
        pass


_ETC_FOLDERS: dict[tuple[tuple[str, str], ...], str] = {}
_ETC_PREFIX = "skyplex-sandbox-etc-"
_ETC_LOCK = threading.Lock()


def _etc_folder(data: dict[str, str]) -> str:
    """A root-owned, read-only folder holding the sandbox's /etc: copies of :data:`ETC_FILES` (links
    kept as links) taken at first use, plus ``data`` (passwd, group, ...). One per distinct ``data``,
    shared by every run of this process and removed when it exits."""
    key = tuple(sorted(data.items()))
    with _ETC_LOCK:
        folder = _ETC_FOLDERS.get(key)
        if folder is not None and os.path.isdir(folder):
            return folder
        # the maker's pid in the name: a process that ends without its exit handlers (SIGKILL, a pool
        # worker's os._exit) leaves its folder, and the next maker removes it
        for stale in stale_owned_folders(Path(tempfile.gettempdir()), _ETC_PREFIX):
            shutil.rmtree(stale, ignore_errors=True)
        folder = tempfile.mkdtemp(prefix=f"{_ETC_PREFIX}{os.getpid()}-")
        for name in ETC_FILES:
            host, dest = f"/etc/{name}", os.path.join(folder, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.islink(host):
                os.symlink(os.readlink(host), dest)
            elif os.path.isdir(host):
                shutil.copytree(host, dest, symlinks=True)
            elif os.path.isfile(host):
                shutil.copy2(host, dest)
        for name, text in data.items():
            with open(os.path.join(folder, name), "w") as fh:
                fh.write(text)
        for dirpath, dirnames, filenames in os.walk(folder):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                if not os.path.islink(os.path.join(dirpath, f)):
                    os.chmod(os.path.join(dirpath, f), 0o644)
        if not _ETC_FOLDERS:
            atexit.register(_remove_own_etc_folders, os.getpid())
        _ETC_FOLDERS[key] = folder
        return folder


def _remove_own_etc_folders(maker: int) -> None:
    # a forked child inherits this handler and the folder table: only the maker removes its folders
    if os.getpid() == maker:
        for folder in _ETC_FOLDERS.values():
            shutil.rmtree(folder, ignore_errors=True)


def _info_w(argv: list[str]) -> int:
    return int(argv[argv.index("--info-fd") + 1])


def _data_fd(data: bytes) -> int:
    """A readable fd holding ``data`` (a memfd, so size is not limited by a pipe's buffer)."""
    fd = os.memfd_create("skyplex-sandbox", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_group(proc: subprocess.Popen) -> None:
    # bwrap was started in its own session: killing the group kills bwrap, whose sandbox init then
    # dies (--die-with-parent) and takes the whole PID namespace with it
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _classify_exit(rc: int, stderr: bytes) -> KilledBy | None:
    # bwrap reports a child killed by signal N as exit status 128 + N
    sig = rc - 128 if rc > 128 else (-rc if rc < 0 else 0)
    if sig in (signal.SIGXCPU,):
        return "cpu"
    if sig == signal.SIGKILL:
        return "cpu" if b"CPU time limit" in stderr else "signal"
    if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGTERM, signal.SIGXFSZ):
        return "signal"
    return None


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def _unreachable_parent(path: Path, uid: int, gid: int) -> Path | None:
    """The first folder above ``path`` that ``uid``/``gid`` may not search, or None when all are searchable."""
    for parent in reversed(path.parents):
        st = parent.stat()
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return parent
    return None


