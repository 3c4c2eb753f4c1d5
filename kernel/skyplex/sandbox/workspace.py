"""Preparing a workspace for the sandbox user: a size-limited file system, and handing files over
without following links out of it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal


def mount_limited_fs(path: Path, size_mb: int, inodes: int) -> bool:
    """Mount a tmpfs of ``size_mb`` and ``inodes`` on ``path`` (root only). False when it cannot."""
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,nr_inodes={inodes},mode=0755,nosuid,nodev",
                        "skyplex-ws", str(path)], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


#: a temp workspace's folder name ends in ``-<pid of its maker>-<mkdtemp's 8 characters>``
_OWNED_NAME = re.compile(r"-(\d+)-[a-z0-9_]{8}$")


def stale_workspace_mounts(parent: Path) -> list[Path]:
    """Workspace file systems under ``parent`` whose maker is gone: a process killed with SIGKILL (or
    any end that skips its ``finally``) leaves its tmpfs mounted. Only mounts of this module's own
    ``skyplex-ws`` source, directly under ``parent``, named with a process id no longer running."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    stale = []
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts, fs = fields.split(), rest.split()
        if len(parts) < 5 or len(fs) < 2 or fs[0] != "tmpfs" or fs[1] != "skyplex-ws":
            continue
        mount_point = Path(parts[4])
        found = _OWNED_NAME.search(mount_point.name)
        if mount_point.parent != parent or found is None:
            continue
        if not _maker_alive(found.group(1)):
            stale.append(mount_point)
    return stale


def stale_owned_folders(parent: Path, prefix: str) -> list[Path]:
    """Folders directly under ``parent`` named ``<prefix><pid>-<8 characters>`` whose maker process is
    gone: a process that ends without running its exit handlers (SIGKILL, ``os._exit`` in a pool
    worker) leaves its temp folders behind. A folder of a live process is never listed."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    stale = []
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        found = _OWNED_NAME.search(entry.name)
        if found is not None and entry.name == f"{prefix}{found.group(0)[1:]}" and not _maker_alive(found.group(1)):
            stale.append(Path(entry.path))
    return stale


def _maker_alive(pid: str) -> bool:
    return Path(f"/proc/{pid}").exists()


#: how many folder levels the hand-over descends (one descriptor is open per level)
MAX_HANDOVER_DEPTH = 256
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PlantedLink(PermissionError):
    """The workspace holds a hard link to a file the sandbox user may not read; nothing was run."""


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    """Hand the workspace to the sandbox user, without following links out of it.

    Everything is changed through descriptors of folders inside the workspace (never a path that a
    symlink could redirect). A regular file with more than one hard link may be a link to a file
    elsewhere on the host: when the sandbox user could read that file anyway (it owns it, or it is
    readable by everyone) it is replaced by a private copy first (copy-in), so the original's owner,
    mode and content stay as they were whatever the code does to the copy; otherwise the run is
    refused (:class:`PlantedLink`), since even a copy would hand over content the user may not read.
    """
    uid, gid = owner
    st = root.lstat()
    if st.st_uid == uid and st.st_gid == gid and not any(root.iterdir()):
        return
    os.lchown(root, uid, gid)
    # descriptors, not a recursive walk: a workspace an earlier run left thousands of levels deep must
    # not crash the next run's hand-over; deeper folders are left as they are: only a run can have made
    # them, so the sandbox user owns them already, and nothing the host put there changes owner
    for path, dfd, name, fst in walk_tree(root, max_depth=MAX_HANDOVER_DEPTH, deeper="skip"):
        if stat.S_ISDIR(fst.st_mode):
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
            continue
        if stat.S_ISREG(fst.st_mode) and fst.st_nlink > 1:
            if fst.st_uid != uid and not fst.st_mode & stat.S_IROTH:
                raise PlantedLink(f"the workspace holds {os.path.join(root, path)}, a hard link to a file "
                                  f"the sandbox user (uid {uid}) may not read; remove it or copy the content in")
            copy_in(dfd, name, fst)
        elif not (stat.S_ISREG(fst.st_mode) or stat.S_ISLNK(fst.st_mode)):
            # devices, fifos and sockets have no business in a workspace; a fifo could block us
            os.unlink(name, dir_fd=dfd)
            continue
        os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)


class TreeTooLarge(ValueError):
    """A tree holds more entries, deeper folders or longer paths than the walk was allowed."""


def walk_tree(root: Path | str, *, max_depth: int, max_entries: int | None = None,
              max_path_bytes: int | None = None, deeper: Literal["raise", "skip"] = "raise",
              sort: bool = False) -> Iterator[tuple[str, int, str, os.stat_result]]:
    """Every entry under ``root`` as (relative path, fd of its folder, name, lstat), parents before
    children, through folder descriptors opened with O_NOFOLLOW: never a path string a symlink could
    redirect or a deep tree make too long, never a recursion. One descriptor is open per level.

    A folder at ``max_depth`` is yielded but not entered: with ``deeper="raise"`` that raises
    :class:`TreeTooLarge`, with ``"skip"`` the walk goes on beside it. More than ``max_entries`` entries
    or a relative path over ``max_path_bytes`` raise :class:`TreeTooLarge` too. ``sort`` walks each
    folder in name order (reversed), for a stable order.
    """
    def names(fd: int) -> list[str]:
        return sorted(os.listdir(fd)) if sort else os.listdir(fd)

    count = 0
    stack: list[tuple[int, str, list[str]]] = []
    try:
        top = os.open(root, _DIR_FLAGS)
        stack.append((top, "", names(top)))
        while stack:
            fd, rel, todo = stack[-1]
            if not todo:
                os.close(stack.pop()[0])
                continue
            name = todo.pop()
            path = f"{rel}/{name}" if rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            count += 1
            if max_entries is not None and count > max_entries:
                raise TreeTooLarge(f"{root} holds more than {max_entries} files and folders")
            if max_path_bytes is not None and len(os.fsencode(path)) > max_path_bytes:
                raise TreeTooLarge(f"{root} holds a path longer than {max_path_bytes} bytes ({path[:80]}...)")
            yield path, fd, name, st
            if stat.S_ISDIR(st.st_mode):
                if len(stack) >= max_depth:
                    if deeper == "skip":
                        continue
                    raise TreeTooLarge(f"{root} holds folders nested deeper than {max_depth} levels ({path[:80]}...)")
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                stack.append((sub, path, names(sub)))
    finally:
        for fd, _rel, _todo in stack:
            os.close(fd)


def copy_in(dfd: int, name: str, st: os.stat_result) -> None:
    """Replace the hard link ``name`` (in folder ``dfd``) by a copy with the same content and mode."""
    tmp = f".skyplex-copyin-{os.getpid()}-{threading.get_ident()}"
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
    try:
        dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
        try:
            while chunk := os.read(src, 1 << 20):
                os.write(dst, chunk)
            os.fchmod(dst, stat.S_IMODE(st.st_mode) & 0o777)  # no set-uid/gid bits on the sandbox's copy
        finally:
            os.close(dst)
    finally:
        os.close(src)
    os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
