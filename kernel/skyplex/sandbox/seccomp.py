"""A seccomp filter for sandboxed code, assembled as classic BPF in pure Python (no libseccomp needed).

The filter is a deny list on top of bubblewrap's namespaces: namespaces already hide the host, the
filter removes the kernel interfaces that have a history of privilege escalation or that would let
code leave its confinement (new namespaces, mounts, ptrace, keyrings, eBPF, kernel modules, io_uring).
Denied calls fail with EPERM rather than killing the process, so well-behaved programs that probe for
a feature (``unshare`` in a test runner, ``io_uring`` in a runtime) get an error they can handle.

Layout of ``struct seccomp_data`` (see linux/seccomp.h): ``nr`` at offset 0, ``arch`` at 4, the
instruction pointer at 8 and ``args[i]`` at ``16 + 8*i`` (we read the low 32 bits, little-endian).
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# classic BPF opcodes (linux/bpf_common.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# seccomp return actions (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
#: x32 system calls are x86_64 calls with this bit set; they would bypass a table keyed on numbers
X32_SYSCALL_BIT = 0x40000000

#: clone(2) flags that create namespaces (linux/sched.h); clone without them stays allowed (threads, fork)
CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x00000080  # CLONE_NEWTIME
)

#: the denied system calls, by name; the reason groups are documented in docs/sandbox.md
DENIED_SYSCALLS: tuple[str, ...] = (
    # namespaces and mounts: the way out of a container
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    # looking into or controlling other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # kernel attack surface with a record of exploits
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # host administration
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "sethostname", "setdomainname",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup",
    # file handles bypass path-based confinement
    "open_by_handle_at", "name_to_handle_at",
)

#: calls that fail with EOPNOTSUPP so programs fall back to something the limits see: ``fallocate``
#: reserves any number of disk blocks in one call (with KEEP_SIZE even past the file-size limit), and
#: C libraries' ``posix_fallocate`` then writes the blocks instead, which RLIMIT_FSIZE bounds
UNSUPPORTED_SYSCALLS: tuple[str, ...] = ("fallocate",)

#: system call numbers per architecture (x86_64: arch/x86/entry/syscalls/syscall_64.tbl;
#: aarch64: the generic table include/uapi/asm-generic/unistd.h)
SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
        "pidfd_getfd": 438, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "quotactl": 179, "syslog": 103, "sethostname": 170, "setdomainname": 171, "settimeofday": 164,
        "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "vhangup": 153,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "clone": 56, "clone3": 435,
        "fallocate": 285,
        # x86-only port I/O
        "iopl": 172, "ioperm": 173,
    },
    "aarch64": {
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "pidfd_getfd": 438, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "quotactl": 60, "syslog": 116, "sethostname": 161, "setdomainname": 162, "settimeofday": 170,
        "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171, "vhangup": 58,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "clone": 220, "clone3": 435,
        "fallocate": 47,
    },
}

_AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


class SeccompUnsupported(RuntimeError):
    """No filter can be built for this CPU architecture."""


def native_arch() -> str:
    """This machine's architecture name as used in :data:`SYSCALL_NUMBERS`."""
    machine = platform.machine().lower()
    return _MACHINE_ALIASES.get(machine, machine)


@dataclass(frozen=True)
class _Ins:
    code: int
    k: int
    jt: str | int = 0  # a label or a relative offset
    jf: str | int = 0


def _errno(code: int) -> int:
    return _RET_ERRNO | (code & 0xFFFF)


def build_filter(arch: str | None = None, *, extra_denied: tuple[str, ...] = ()) -> bytes:
    """The filter program for ``arch`` (default: this machine) as the bytes bubblewrap's ``--seccomp`` reads.

    Calls from any other architecture are killed (a 32-bit compat entry would use different numbers);
    ``clone`` with a namespace flag and everything in :data:`DENIED_SYSCALLS` (plus ``extra_denied``)
    fail with EPERM; :data:`UNSUPPORTED_SYSCALLS` fail with EOPNOTSUPP; ``clone3`` fails with ENOSYS because its flags live in memory the filter cannot
    read, and C libraries fall back to ``clone`` on ENOSYS.
    """
    arch = arch or native_arch()
    if arch not in SYSCALL_NUMBERS:
        raise SeccompUnsupported(
            f"no seccomp syscall table for architecture {arch!r}; supported: {', '.join(SYSCALL_NUMBERS)}"
        )
    table = SYSCALL_NUMBERS[arch]
    denied = [n for n in (*DENIED_SYSCALLS, *extra_denied, "iopl", "ioperm") if n in table]
    unknown = [n for n in extra_denied if n not in table]
    if unknown:
        raise SeccompUnsupported(f"unknown system call(s) for {arch}: {', '.join(unknown)}")

    prog: list[_Ins | str] = [
        _Ins(_LD_W_ABS, 4),  # arch
        _Ins(_JEQ_K, _AUDIT_ARCH[arch], jt=0, jf="kill"),
        _Ins(_LD_W_ABS, 0),  # syscall number
    ]
    if arch == "x86_64":
        prog.append(_Ins(_JGE_K, X32_SYSCALL_BIT, jt="eperm", jf=0))
    prog.append(_Ins(_JEQ_K, table["clone"], jt="clone", jf=0))
    prog.append(_Ins(_JEQ_K, table["clone3"], jt="enosys", jf=0))
    for name in dict.fromkeys(denied):  # keep order, drop duplicates
        prog.append(_Ins(_JEQ_K, table[name], jt="eperm", jf=0))
    for name in UNSUPPORTED_SYSCALLS:
        prog.append(_Ins(_JEQ_K, table[name], jt="eopnotsupp", jf=0))
    prog += [
        _Ins(_RET_K, RET_ALLOW),
        "clone",
        _Ins(_LD_W_ABS, 16),  # args[0] low word: the flags
        _Ins(_JSET_K, CLONE_NAMESPACE_FLAGS, jt="eperm", jf=0),
        _Ins(_RET_K, RET_ALLOW),
        "eperm",
        _Ins(_RET_K, _errno(errno.EPERM)),
        "enosys",
        _Ins(_RET_K, _errno(errno.ENOSYS)),
        "eopnotsupp",
        _Ins(_RET_K, _errno(errno.EOPNOTSUPP)),
        "kill",
        _Ins(_RET_K, RET_KILL_PROCESS),
    ]
    return _assemble(prog)


def _assemble(prog: list[_Ins | str]) -> bytes:
    """Resolve labels into relative jump offsets and pack ``struct sock_filter`` entries."""
    labels: dict[str, int] = {}
    ins: list[_Ins] = []
    for item in prog:
        if isinstance(item, str):
            labels[item] = len(ins)
        else:
            ins.append(item)
    out = bytearray()
    for i, op in enumerate(ins):
        jt, jf = (_offset(j, i, labels) for j in (op.jt, op.jf))
        out += struct.pack("<HBBI", op.code, jt, jf, op.k)
    return bytes(out)


def _offset(target: str | int, at: int, labels: dict[str, int]) -> int:
    if isinstance(target, int):
        return target
    off = labels[target] - (at + 1)
    if not 0 <= off <= 255:  # classic BPF jumps are forward and 8-bit
        raise SeccompUnsupported(f"seccomp program too long: jump to {target!r} is {off} instructions")
    return off
