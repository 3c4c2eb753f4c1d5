"""Attacks on the sandbox's confinement through /proc, tmpfs mounts, block allocation, planted links and
process lifetime. Every verdict is taken on the host side (files, process table, cgroups), never from
what the attacker prints about itself.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from skyplex.sandbox import Sandbox, SandboxPolicy, available
from skyplex.sandbox import cgroup as sandbox_cgroup

OK, REASON = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"sandbox unavailable here: {REASON}")

TIGHT = SandboxPolicy(memory_mb=256, cpu_seconds=4, file_size_mb=8, disk_mb=32, open_files=64, processes=32,
                      wall_timeout_s=8, tmp_size_mb=8, workspace_inodes=500)
AS_ROOT = os.geteuid() == 0


@pytest.fixture
def ws():
    with Sandbox(TIGHT).temp_workspace() as path:
        yield path


@pytest.fixture
def plain_ws():
    """A workspace on the host's own file system (not a tmpfs), so hard links from elsewhere can be planted."""
    path = Path(tempfile.mkdtemp(prefix="skyplex-plain-ws-"))
    os.chmod(path, 0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _procs_running(token: str) -> list[int]:
    """Host pids whose command line holds ``token`` (each attack carries its own, so runs by others on
    the same machine are not mistaken for survivors)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    out.append(int(entry))
            except OSError:
                continue
    return out


def _leftover_groups() -> list[str]:
    found = []
    lay = sandbox_cgroup._layout()
    for folder in [lay.v2, *lay.v1.values()]:
        if folder:
            found += [n for n in os.listdir(folder) if n.startswith(f"skyplex-sandbox-{os.getpid()}-")]
    return found


def _assert_nothing_survives(ws: Path, marker: str) -> None:
    """No process of the attack exists and nothing writes ``marker`` any more, seen from the host."""
    assert _procs_running(ATTACK_TOKEN) == [], "a sandboxed process outlived run()"
    target = ws / marker
    size = target.stat().st_size if target.exists() else -1
    time.sleep(0.6)
    after = target.stat().st_size if target.exists() else -1
    assert after == size, "the workspace is still being written after run() returned"
    assert _leftover_groups() == []


ATTACK_TOKEN = f"skyplex-attack-{os.getpid()}"


def py(code: str) -> list[str]:
    return ["python3", "-c", f"# {ATTACK_TOKEN}\n{code}"]


# lifetime ------------------------------------------------------------------------------------------------
DETACH = r"""
import os, signal, time
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            with open('heartbeat', 'a') as fh:
                fh.write('x')
            time.sleep(0.01)
    os._exit(0)
time.sleep(0.3)
print('parent done')
"""


def test_detached_daemon_dies_with_the_run(ws):
    res = Sandbox(TIGHT).run(py(DETACH), workspace=ws)
    assert res.ok and "parent done" in res.text()
    _assert_nothing_survives(ws, "heartbeat")


def test_detached_daemon_dies_without_cgroups_too(ws, monkeypatch):
    # the namespace kill alone (no cgroup to sweep) must end everything
    monkeypatch.setattr(sandbox_cgroup, "available", lambda: False)
    res = Sandbox(TIGHT).run(py(DETACH), workspace=ws)
    assert res.ok
    _assert_nothing_survives(ws, "heartbeat")


def test_init_memory_cannot_be_opened(ws):
    code = r"""
import os
for path in ('/proc/1/mem', '/proc/1/task/1/mem'):
    for flags in (os.O_RDWR, os.O_WRONLY):
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            print(path, 'denied', exc.errno)
            continue
        try:
            os.lseek(fd, 0x400000, 0)
            os.write(fd, b'\xcc' * 16)
            print(path, 'WRITTEN')
        except OSError as exc:
            print(path, 'write failed', exc.errno)
    try:
        data = open(path, 'rb').read(64)
        print(path, 'read', len(data))
    except OSError as exc:
        print(path, 'read denied', exc.errno)
with open('heartbeat', 'w') as fh:
    fh.write('x')
"""
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    assert "WRITTEN" not in res.text(), res.text()
    for line in res.text().splitlines():
        if " read " in line:
            assert line.endswith(" 0") or " read denied " in line, f"init memory readable: {line}"
    _assert_nothing_survives(ws, "heartbeat")


def test_init_is_the_only_unfiltered_process_and_code_cannot_signal_it_away(ws):
    # killing pid 1 from inside is refused for an init without handlers; the run still ends normally
    res = Sandbox(TIGHT).run(["sh", "-c", f"kill -9 1; kill -STOP 1; echo still here # {ATTACK_TOKEN}"], workspace=ws)
    assert "still here" in res.text()
    _assert_nothing_survives(ws, "none")


# tmpfs and memory -------------------------------------------------------------------------------------------
def test_dev_shm_is_bounded(ws):
    res = Sandbox(TIGHT).run(
        ["sh", "-c", "for i in $(seq 40); do head -c 1048576 /dev/zero > /dev/shm/f$i || break; done 2>&1; "
         "du -sm /dev/shm | cut -f1"],
        workspace=ws)
    assert "No space left" in res.text(), res.text()
    assert int(res.text().split()[-1]) <= TIGHT.tmp_size_mb


def test_dev_itself_is_not_writable(ws):
    res = Sandbox(TIGHT).run(["sh", "-c", "head -c 1048576 /dev/zero > /dev/fill && echo WROTE"], workspace=ws)
    assert "WROTE" not in res.text()


@pytest.mark.skipif(not sandbox_cgroup.available(), reason="no writable cgroup hierarchy here")
def test_many_processes_share_one_memory_bound(ws):
    # each process stays under its own RLIMIT_AS, together they exceed the run's bound
    policy = SandboxPolicy(memory_mb=200, total_memory_mb=160, cpu_seconds=10, wall_timeout_s=20, processes=32)
    code = r"""
import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        block = bytearray(100 << 20)
        for j in range(0, len(block), 4096):
            block[j] = 1
        time.sleep(5)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
"""
    res = Sandbox(policy).run(py(code), workspace=ws)
    assert res.killed_by == "memory", (res.killed_by, res.returncode, res.text("stderr"))
    _assert_nothing_survives(ws, "none")


@pytest.mark.skipif(not sandbox_cgroup.available(), reason="no writable cgroup hierarchy here")
def test_tmpfs_pages_count_against_the_run(ws):
    policy = SandboxPolicy(memory_mb=64, total_memory_mb=48, tmp_size_mb=200, wall_timeout_s=20)
    res = Sandbox(policy).run(["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=150 2>&1; echo done"],
                              workspace=ws)
    assert res.killed_by == "memory" or "No space left" in res.text() or "Cannot allocate" in res.text(), res.text()


# disk blocks and inodes ---------------------------------------------------------------------------------------
def _allocated(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def test_fallocate_cannot_reserve_past_the_limits(plain_ws):
    code = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open('reserved', os.O_CREAT | os.O_WRONLY, 0o644)
for mode in (0, 1):  # 1 = FALLOC_FL_KEEP_SIZE: blocks past EOF, invisible to st_size
    r = libc.fallocate(fd, mode, ctypes.c_long(0), ctypes.c_long(4 << 30))
    print('fallocate', mode, r, ctypes.get_errno())
try:
    os.posix_fallocate(fd, 0, 4 << 30)
    print('posix_fallocate ok')
except OSError as exc:
    print('posix_fallocate', exc.errno)
"""
    res = Sandbox(TIGHT).run(py(code), workspace=plain_ws)
    assert "posix_fallocate ok" not in res.text(), res.text()
    assert _allocated(plain_ws) <= (TIGHT.file_size_mb + 1) << 20


def test_sparse_files_are_not_charged_and_blocks_are(ws):
    code = r"""
import os
with open('sparse', 'wb') as fh:
    fh.seek((1 << 30) - 1)
    fh.write(b'x')
"""
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    # a 1 GiB seek is past the file-size limit: the write is refused, nothing is allocated
    assert _allocated(ws) <= 1 << 20
    assert res.returncode != 0 or (ws / "sparse").stat().st_size <= TIGHT.file_size_mb << 20


@pytest.mark.skipif(not AS_ROOT, reason="size-limited workspaces are mounted as root only")
def test_workspace_blocks_are_bounded_by_the_kernel(ws):
    code = "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * (4 << 20))\n    i += 1\n"
    res = Sandbox(TIGHT).run(py(code), workspace=ws, timeout=30)
    assert b"No space left" in res.stderr or res.killed_by == "disk", res.text("stderr")[-300:]
    assert _allocated(ws) <= TIGHT.disk_mb << 20


@pytest.mark.skipif(not AS_ROOT, reason="size-limited workspaces are mounted as root only")
def test_workspace_inodes_are_bounded_by_the_kernel(ws):
    code = "import os\nfor i in range(100000):\n    open(f'e{i}', 'w').close()\n"
    res = Sandbox(TIGHT).run(py(code), workspace=ws, timeout=30)
    assert b"No space left" in res.stderr, res.text("stderr")[-300:]
    assert len(os.listdir(ws)) <= TIGHT.workspace_inodes


# planted links --------------------------------------------------------------------------------------------
@pytest.mark.skipif(not AS_ROOT, reason="only root can plant a link to a file the sandbox user does not own")
@pytest.mark.parametrize("mode", [0o4600, 0o640, 0o644, 0o4755])
def test_planted_hard_link_never_changes_or_leaks_the_original(plain_ws, mode):
    secret_dir = Path(tempfile.mkdtemp(prefix="skyplex-secret-"))
    try:
        secret = secret_dir / "secret"
        secret.write_text("root only\n")
        os.chmod(secret, mode)
        os.link(secret, plain_ws / "planted")
        code = "print(open('planted').read()); open('planted', 'a').write('appended by sandbox\\n')"
        readable = bool(mode & 0o004)
        if readable:  # the sandbox user could read it anyway: it gets a private copy
            res = Sandbox(TIGHT).run(py(code), workspace=plain_ws)
            copy = (plain_ws / "planted").lstat()
            assert copy.st_ino != secret.lstat().st_ino and copy.st_nlink == 1
            assert not copy.st_mode & (stat.S_ISUID | stat.S_ISGID)
        else:  # it could not: the run is refused, nothing of the content is handed over
            with pytest.raises(PermissionError, match="may not read"):
                Sandbox(TIGHT).run(py(code), workspace=plain_ws)
            assert (plain_ws / "planted").lstat().st_ino == secret.lstat().st_ino
        st = secret.lstat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, mode)
        assert secret.read_text() == "root only\n"
    finally:
        subprocess.run(["rm", "-rf", str(secret_dir)], check=False)


@pytest.mark.skipif(not AS_ROOT, reason="the workspace is only chowned when skyplex runs as root")
def test_symlink_in_workspace_does_not_redirect_the_chown(plain_ws):
    outside = Path(tempfile.mkdtemp(prefix="skyplex-outside-"))
    try:
        (outside / "f").write_text("x")
        (plain_ws / "link").symlink_to(outside / "f")
        (plain_ws / "dirlink").symlink_to(outside)
        Sandbox(TIGHT).run(["true"], workspace=plain_ws)
        assert (outside / "f").stat().st_uid == 0 and outside.stat().st_uid == 0
    finally:
        subprocess.run(["rm", "-rf", str(outside)], check=False)
