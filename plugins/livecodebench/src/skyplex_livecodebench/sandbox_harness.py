"""Test runner that executes INSIDE the sandbox (stdlib only, any Python 3.9+); never imported by the host.

It reads ``job.json`` (the program, the test inputs and the limits; never the expected outputs),
imports the benchmark's standard modules once, and then runs each test in a forked child with its own
rlimits: CPU seconds (RLIMIT_CPU), address space, and output size (RLIMIT_FSIZE on the file its stdout
goes to). The child's stdin and stdout are real files. After each test every other process of the
sandbox user is killed, so nothing a program leaves behind runs into the next test. One JSON line per
test goes to this process's stdout, which the program cannot reach (its descriptors are closed in the
child and this process is not dumpable, so /proc/<pid>/fd and /proc/<pid>/mem are closed to it).
Comparison with the expected outputs happens on the host.

When the host asks for it (``"channel": true`` in job.json) the harness also opens a live channel to
the host before any program runs: two FIFOs it makes in the workspace and unlinks as soon as the host
holds their other ends (so no program can reach them). Each stdin test's record goes to the host as
soon as it is written, and the host answers ``skip <job>`` once a test of that job has failed, so the
job's remaining tests are not run (the benchmark stops at the first failing test too). Functional
tests all run in one child, which writes each result to its results file and then a byte to a pipe
that wakes the harness; the harness forwards the new results to the host and ends the child when the
host answers ``skip``. The channel is only advice: verdicts come from this process's stdout (and the
results file read after the child has ended) alone, and without a channel every test runs.
"""

import base64
import ctypes
import json
import os
import resource
import select
import signal
import stat
import sys
import time

PREAMBLE = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)
EXIT_MEMORY = 3        # the program raised MemoryError
EXIT_NO_METHOD = 4     # functional: the method is missing
EXIT_SETUP = 5         # the harness could not set the child up


TO_HOST, TO_HARNESS = "lcb-to-host", "lcb-to-harness"
_CHANNEL = None     # [fd to the host, fd from the host, partial line] while a live channel is open
_DECIDED = set()    # jobs the host has decided (a test failed): their remaining tests are skipped


def _emit(record, to_host=False):
    line = json.dumps(record) + "\n"
    sys.__stdout__.write(line)
    sys.__stdout__.flush()
    if to_host and _CHANNEL is not None:
        _send(line.encode())


def _open_channel(wait_s=5.0):
    """Make the two FIFOs, wait (at most ``wait_s``) until the host holds their other ends and has said
    hello, then unlink them. Runs before any program; on any failure there is simply no channel."""
    global _CHANNEL
    rd = wr = None
    try:
        os.mkfifo(TO_HOST, 0o600)
        os.mkfifo(TO_HARNESS, 0o600)
        rd = os.open(TO_HARNESS, os.O_RDONLY | os.O_NONBLOCK)
        deadline = time.monotonic() + wait_s
        while wr is None:
            try:
                wr = os.open(TO_HOST, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until the host reads it
            except OSError as exc:
                if exc.errno != 6 or time.monotonic() > deadline:
                    raise
                time.sleep(0.002)
        # the host opens its writing end before its reading one, so from here a read waits for hello
        hello = b""
        while not hello.endswith(b"\n") and time.monotonic() < deadline:
            if select.select([rd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                chunk = os.read(rd, 64)
                if not chunk:
                    break
                hello += chunk
        if hello != b"hello\n":
            raise OSError("no hello from the host")
        _CHANNEL = [wr, rd, b""]
    except OSError:
        for fd in (rd, wr):
            if fd is not None:
                os.close(fd)
    finally:
        for name in (TO_HOST, TO_HARNESS):
            try:
                os.unlink(name)
            except OSError:
                pass


def _close_channel():
    global _CHANNEL
    if _CHANNEL is not None:
        os.close(_CHANNEL[0])
        os.close(_CHANNEL[1])
        _CHANNEL = None


def _send(data, wait_s=5.0):
    """Write ``data`` to the host whole; a host that stops reading ends the channel, not the grading."""
    deadline = time.monotonic() + wait_s
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(_CHANNEL[0], view):]
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                _close_channel()  # a partial line: the host drops it with the channel's end
                return
            select.select([], [_CHANNEL[0]], [], min(left, 0.05))
        except OSError:
            _close_channel()
            return


def _poll_host():
    """Read what the host has sent (``skip <job>`` lines) without waiting."""
    while _CHANNEL is not None:
        try:
            chunk = os.read(_CHANNEL[1], 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            _close_channel()
            return
        data = _CHANNEL[2] + chunk
        *lines, _CHANNEL[2] = data.split(b"\n")
        for line in lines:
            word, _, job = line.partition(b" ")
            if word == b"skip" and job.isdigit():
                _DECIDED.add(int(job))


def _encode(value, depth=0):
    """Results as JSON that keeps the distinctions Python's == sees (tuples, sets, dicts with any keys)."""
    if depth > 200:
        return {"r": "<too deep>"}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, list):
        return [_encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"t": [_encode(v, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"s": [_encode(v, depth + 1) for v in value], "frozen": isinstance(value, frozenset)}
    if isinstance(value, dict):
        return {"d": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]}
    return {"r": repr(value)[:1000]}


def _limit(cpu_soft, cpu_hard, memory_mb, output_bytes):
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
    mem = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output_bytes, output_bytes))
    for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)


def _redirect(stdin_path, stdout_path, stderr_path, keep=()):
    fd_in = os.open(stdin_path, os.O_RDONLY)
    fd_out = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    fd_err = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd_in, 0)
    os.dup2(fd_out, 1)
    os.dup2(fd_err, 2)
    if keep:
        for fd in (fd_in, fd_out, fd_err):
            os.close(fd)
    else:
        os.closerange(3, 65536)
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)


_BASE_GLOBALS = None  # the preamble's names, built once in the parent before any child is forked


def _program_globals():
    """A fresh namespace with the preamble's names. Built once and copied (each child is its own fork,
    so nothing a program does reaches the next); the standard streams that ``from sys import *`` bound
    are re-bound to this child's redirected ones."""
    global _BASE_GLOBALS
    if _BASE_GLOBALS is None:
        base = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "solution.py"}
        exec(compile(PREAMBLE, "<preamble>", "exec"), base)
        _BASE_GLOBALS = base
    g = dict(_BASE_GLOBALS)
    g.update(stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr)
    return g


def _child_stdin(job, index):
    """Runs one stdin test in this forked child; ends the process (normal interpreter exit)."""
    _redirect("/tmp/in", "/tmp/out", "/tmp/err")
    backstop = job["cpu_s"] + job["cpu_s"] // 4 + 1  # the harness stops it at cpu_s exactly (see _wait)
    _limit(backstop, backstop + 1, job["memory_mb"], job["output_bytes"])
    status = 0
    try:
        g = _program_globals()
        exec(compile(job["code"], "solution.py", "exec"), g)
    except SystemExit:
        pass  # the benchmark treats exit() as the end of the program, whatever its status
    except MemoryError:
        status = EXIT_MEMORY
        sys.stderr.write("MemoryError\n")
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    _finish(status)


def _finish(status):
    """End the child as the interpreter would (non-daemon threads joined, atexit handlers run, output
    flushed) but without tearing every module down, which costs more than the program itself."""
    import atexit
    import threading

    try:
        for t in threading.enumerate():
            if t is not threading.main_thread() and not t.daemon:
                t.join()
        atexit._run_exitfuncs()
    except SystemExit:
        pass
    except BaseException:
        import traceback

        traceback.print_exc()
        status = status or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            status = status or 1
    os._exit(status)


def _close_all_but(keep):
    """Close every descriptor from 3 up except those in ``keep`` (the harness's channel among them)."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _child_functional(job, res_fd, wake_fd=None):
    """Runs every functional test against one Solution() (as the benchmark does), writing one JSON line
    per result to ``res_fd`` (the results file the harness opened). With ``wake_fd`` (a live channel is
    open) a byte follows each result, so the harness forwards it to the host at once."""
    _redirect("/dev/null", "/tmp/out", "/tmp/err", keep=True)
    _close_all_but({res_fd} if wake_fd is None else {res_fd, wake_fd})
    n = len(job["inputs"])
    hard = job["cpu_s"] * n + 1
    _limit(job["cpu_s"], hard, job["memory_mb"], job["output_bytes"])
    status = 0

    def put(rec):
        os.write(res_fd, (json.dumps(rec) + "\n").encode())

    def wake():
        if wake_fd is not None:
            try:
                os.write(wake_fd, b".")
            except OSError:
                pass  # the pipe is full (the harness has not read it yet) or gone: it is only a wake-up

    try:
        g = _program_globals()
        code = job["code"]
        exec(compile(code, "solution.py", "exec"), g)
        target = g["Solution"]() if "class Solution" in code else None
        method = getattr(target, job["func_name"], None) if target is not None else g.get(job["func_name"])
        if method is None:
            put({"missing": job["func_name"]})
            raise SystemExit(EXIT_NO_METHOD)
        for i, text in enumerate(job["inputs"]):
            args = [json.loads(line) for line in text.split("\n")]
            used = resource.getrusage(resource.RUSAGE_SELF)
            soft = int(used.ru_utime + used.ru_stime) + job["cpu_s"]
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))
            put({"start": i})
            value = method(*args)
            if isinstance(value, tuple):
                value = list(value)
            put({"test": i, "value": _encode(value)})
            wake()
    except SystemExit as exc:
        status = exc.code if exc.code == EXIT_NO_METHOD else 0
    except MemoryError:
        status = EXIT_MEMORY
    except BaseException as exc:
        put({"error": type(exc).__name__ + ": " + str(exc)[:500]})
        status = 1
    _finish(status)


def _in_sandbox():
    # the harness kills processes and empties folders: only ever inside the sandbox's own namespaces
    return os.getpid() <= 3 and os.environ.get("SKYPLEX_LCB_IN_SANDBOX") == "1"


def _kill_strays():
    # pid 1 is the namespace's init; kill(-1) reaches every other process of the sandbox user except us.
    # Then wait (briefly) until the init has reaped them, so the next program sees no leftovers.
    if not _in_sandbox():
        return
    me = os.getpid()
    for _ in range(500):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not others:
            return
        time.sleep(0.002)


def _cpu_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _wait(pid, wall_s, cpu_s, job=None, cpu_cap=None, watch=None):
    """Wait for ``pid``; past ``wall_s`` seconds kill it only when it is blocked (its CPU time stopped
    moving), so a program slowed by a loaded machine is judged by its CPU time, not the clock. A hard
    bound of max(5 x ``wall_s``, 10 x ``cpu_s``) ends everything; so does the host deciding ``job``
    meanwhile, and, given ``cpu_cap``, the program's CPU time reaching it (read from /proc, the exact
    run time the verdict reports; RLIMIT_CPU samples CPU time at clock ticks, and on a loaded machine
    that sample ran up to 8 % ahead, so a program at 5.5 s could be stopped at "6 s"; it stays as a
    backstop a little above). ``watch`` is (fd, callback): the callback runs whenever fd is readable.
    Returns (status, rusage, wall, walled, skipped, cpu_stopped)."""
    start = time.monotonic()
    walled = skipped = cpu_stopped = False
    last_cpu, last_t = None, None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if job is not None and job in _DECIDED:
            os.kill(pid, signal.SIGKILL)
            skipped = True
            done, status, usage = os.wait4(pid, 0)
            break
        now = time.monotonic()
        elapsed = now - start
        cpu_left = None
        if cpu_cap is not None:
            used = _cpu_of(pid)
            if used is not None and used >= cpu_cap:
                os.kill(pid, signal.SIGKILL)
                cpu_stopped = True
                done, status, usage = os.wait4(pid, 0)
                break
            # a program gains CPU time no faster than wall time per thread: look again when it could
            # have used half of what is left (a few looks per heavy test, none for a quick one)
            cpu_left = max(0.005, (cpu_cap - used) / 2) if used is not None else 0.005
        if elapsed >= wall_s:
            cpu = _cpu_of(pid)
            blocked = cpu is None or (last_cpu is not None and cpu - last_cpu < 0.02 * (now - last_t))
            if (blocked and last_cpu is not None) or elapsed >= max(5 * wall_s, 10 * cpu_s):
                os.kill(pid, signal.SIGKILL)
                walled = True
                done, status, usage = os.wait4(pid, 0)
                break
            last_cpu, last_t = cpu, now
            left = 0.5
        else:
            left = wall_s - elapsed
        if cpu_left is not None:
            left = min(left, cpu_left)
        host = [_CHANNEL[1]] if _CHANNEL is not None and job is not None else []
        extra = [watch[0]] if watch is not None else []
        if pidfd is not None:
            ready = select.select([pidfd] + host + extra, [], [], left)[0]
        elif host or extra:
            ready = select.select(host + extra, [], [], min(left, 0.005))[0]
        else:
            ready = time.sleep(min(left, 0.005))
        if extra and ready and extra[0] in ready:
            watch[1]()
        if host and ready and host[0] in ready:
            _poll_host()
    if pidfd is not None:
        os.close(pidfd)
    return status, usage, time.monotonic() - start, walled, skipped, cpu_stopped


def _describe(status, usage, wall, walled, skipped=False):
    return {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu": round(usage.ru_utime + usage.ru_stime, 4), "rss_kb": usage.ru_maxrss,
            "wall": round(wall, 4), "walled": walled}


def _read(path, limit):
    """Up to ``limit + 1`` bytes of the regular file at ``path``; a program may have put a FIFO or a
    link there, which is read as empty rather than followed or waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit + 1)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _clean():
    """Remove what a program left in the writable places, so the next program starts from nothing."""
    if not _in_sandbox():
        return
    for root in ("/tmp", "/dev/shm", "."):
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if root == "." and dirpath == "." and name in ("job.json", "harness.py"):
                    continue
                try:
                    os.unlink(path)
                except OSError:
                    pass
            for name in dirnames:
                try:
                    os.rmdir(os.path.join(dirpath, name))
                except OSError:
                    pass


RESULTS_CAP = 64 << 20  # bytes of a functional child's results file the harness reads


class _Forwarder:
    """Sends each functional result to the host as the child writes it: on a wake-up byte, the results
    file's new complete lines go over the channel (advice only; the file is read again, whole, after
    the child has ended, and that is what the verdict is made from)."""

    def __init__(self, job, res_fd, wake_fd):
        self.job, self.res_fd, self.wake_fd, self.offset = job, res_fd, wake_fd, 0

    def __call__(self):
        try:
            while os.read(self.wake_fd, 4096):
                pass
        except BlockingIOError:
            pass
        except OSError:
            return
        try:
            data = os.pread(self.res_fd, max(0, RESULTS_CAP - self.offset), self.offset)
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # a line the child is still writing waits for the next wake-up
        self.offset += end
        for rec in _json_lines(data[:end]):
            if isinstance(rec.get("test"), int) and "value" in rec:
                _emit_host({"job": self.job, "test": rec["test"], "value": rec["value"]})


def _json_lines(data):
    """The JSON objects among ``data``'s lines (what the program itself wrote there is skipped or kept
    as it parses: it decides only its own verdict)."""
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip().startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out


def _emit_host(record):
    """A record for the host's live channel only (it is not part of the harness's output)."""
    if _CHANNEL is not None:
        _send((json.dumps(record) + "\n").encode())


def _run_functional(j, job):
    n = len(job["inputs"])
    # the harness opens the results file and reads it through its own descriptor, never by its path,
    # which the program could replace (by a FIFO that would block the reader, say)
    res_fd = os.open("/tmp/results", os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    wake_r = wake_w = forward = None
    if _CHANNEL is not None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        _child_functional(job, res_fd, wake_w)
    if wake_w is not None:
        os.close(wake_w)
        forward = _Forwarder(j, res_fd, wake_r)
    status, usage, wall, walled, skipped, _ = _wait(pid, job["wall_s"] * n + 1, job["cpu_s"] * n, j,
                                                    watch=(wake_r, forward) if forward else None)
    _kill_strays()
    if wake_r is not None:
        os.close(wake_r)
    rec = _describe(status, usage, wall, walled)
    try:
        data = os.pread(res_fd, RESULTS_CAP + 1, 0)
    except OSError:
        data = b""
    os.close(res_fd)
    rec["results"] = _json_lines(data)[: 3 * n + 2]
    rec["stderr"] = _read("/tmp/err", 4000)[-4000:].decode("utf-8", "replace")
    rec["job"] = j
    if skipped:  # the host saw a wrong result: the tests from the first without a result on file did not run
        done = [r["test"] for r in rec["results"] if isinstance(r.get("test"), int)]
        rec["skipped"] = max(done) + 1 if done else 0
    _emit(rec)


def _run_job(j, job):
    cap = job["output_bytes"]
    if job["kind"] == "functional":
        _run_functional(j, job)
        return
    for i, text in enumerate(job["inputs"]):
        _poll_host()
        if j in _DECIDED:
            _emit({"job": j, "skipped": i})  # the host saw a failing test: the rest need not run
            return
        with open("/tmp/in", "w", encoding="utf-8") as fh:
            fh.write(text)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child_stdin(job, i)
        status, usage, wall, walled, skipped, cpu_stopped = _wait(pid, job["wall_s"], job["cpu_s"], j,
                                                                  cpu_cap=job["cpu_s"])
        _kill_strays()
        if skipped:
            _emit({"job": j, "skipped": i})
            return
        rec = _describe(status, usage, wall, walled)
        rec["cpu_limit"] = cpu_stopped
        out = _read("/tmp/out", cap)
        rec.update(job=j, test=i, stdout=base64.b64encode(out[:cap]).decode(), stdout_size=len(out),
                   stderr=_read("/tmp/err", 1 << 20)[-4000:].decode("utf-8", "replace"))
        _emit(rec, to_host=True)
        if rec["exit"] != 0 or rec["walled"]:
            return  # a runtime failure decides the verdict; later tests need not run


def main():
    with open("job.json") as fh:
        spec = json.load(fh)
    jobs = spec["jobs"]
    try:
        sys.set_int_max_str_digits(0)
    except AttributeError:
        pass
    # import the benchmark's modules (and what ending a child needs) once; every child forks with them
    # loaded and the preamble's namespace built, so a test costs a fork, not a start-up
    import atexit  # noqa: F401
    import threading  # noqa: F401
    import traceback  # noqa: F401

    _program_globals()
    libc = ctypes.CDLL(None)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: programs cannot open our /proc/<pid>/fd or mem
    if spec.get("channel") and _in_sandbox():
        _open_channel()
    _emit({"ready": True, "python": sys.version.split()[0], "channel": _CHANNEL is not None})
    for j, job in enumerate(jobs):
        _emit({"job": j, "start": True})
        _run_job(j, job)
        _kill_strays()
        _clean()
        _emit({"job": j, "end": True})


if __name__ == "__main__":
    main()
