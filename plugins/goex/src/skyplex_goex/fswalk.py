"""Walking and removing trees a sandboxed command left, at any depth and without recursion: folder
descriptors opened with O_NOFOLLOW, never path strings a deep tree could make too long."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from skyplex.sandbox.workspace import TreeTooLarge, walk_tree

__all__ = ["MAX_DEPTH", "MAX_PATH_BYTES", "TreeTooLarge", "chown_all", "remove_tree", "walk"]

#: how deep and how large a tree goex walks; a result beyond these is refused, never half-read
MAX_DEPTH = 256
MAX_PATH_BYTES = 3072
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def walk(root: Path | str, *, max_entries: int | None = None) -> Iterator[tuple[str, int, str, os.stat_result]]:
    """Every entry under ``root`` as (relative path, fd of its folder, name, lstat), parents before
    children, in name order, through the kernel's descriptor walk (O_NOFOLLOW, no recursion). Deeper
    than :data:`MAX_DEPTH`, a relative path over :data:`MAX_PATH_BYTES` or more than ``max_entries``
    entries raise :class:`TreeTooLarge`."""
    return walk_tree(root, max_depth=MAX_DEPTH, max_entries=max_entries, max_path_bytes=MAX_PATH_BYTES, sort=True)


def chown_all(root: Path, uid: int, gid: int) -> None:
    """Give ``root`` and everything below it to ``uid``/``gid`` without following links, at any depth
    (folders below :data:`MAX_DEPTH` are reached by :func:`remove_tree` only)."""
    os.chown(root, uid, gid, follow_symlinks=False)
    try:
        for _path, fd, name, _st in walk(root):
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
    except TreeTooLarge:
        pass


def remove_tree(top: Path) -> None:
    """Remove ``top`` and everything in it, however deep: one folder descriptor at a time, going down
    into the first subfolder left and back up through '..' once it is empty. Only for trees nothing
    else writes to (a stage whose sandbox has ended)."""
    try:
        fd = os.open(top, _DIR_FLAGS)
    except FileNotFoundError:
        return
    names: list[str] = []  # the folders between top and fd
    try:
        while True:
            sub = None
            for entry in os.listdir(fd):
                st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    sub = sub or entry
                else:
                    os.unlink(entry, dir_fd=fd)
            if sub is not None:
                nfd = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
                names.append(sub)
                continue
            if not names:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(top)
