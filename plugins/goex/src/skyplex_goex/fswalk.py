"""Walking and removing trees a sandboxed command left, at any depth and without recursion: folder
descriptors opened with O_NOFOLLOW, never path strings a deep tree could make too long."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MAX_DEPTH", "MAX_PATH_BYTES", "TreeTooLarge", "chown_all", "remove_tree", "walk"]

#: how deep and how large a tree goex walks; a result beyond these is refused, never half-read
MAX_DEPTH = 256
MAX_PATH_BYTES = 3072
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeTooLarge(ValueError):
    """A tree holds more entries, deeper folders or longer paths than goex handles."""


def walk(root: Path | str, *, max_entries: int | None = None) -> Iterator[tuple[str, int, str, os.stat_result]]:
    """Every entry under ``root`` as (relative path, fd of its folder, name, lstat), parents before
    children, through folder descriptors opened with O_NOFOLLOW (never a path string a deep tree could
    make too long, never a recursion). One descriptor is open per level; deeper than :data:`MAX_DEPTH`,
    a relative path over :data:`MAX_PATH_BYTES` or more than ``max_entries`` entries raise
    :class:`TreeTooLarge`."""
    count = 0
    stack: list[tuple[int, str, list[str]]] = []
    try:
        top = os.open(root, _DIR_FLAGS)
        stack.append((top, "", sorted(os.listdir(top))))
        while stack:
            fd, rel, names = stack[-1]
            if not names:
                os.close(stack.pop()[0])
                continue
            name = names.pop()
            path = f"{rel}/{name}" if rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            count += 1
            if max_entries is not None and count > max_entries:
                raise TreeTooLarge(f"{root} holds more than {max_entries} files and folders")
            if len(os.fsencode(path)) > MAX_PATH_BYTES:
                raise TreeTooLarge(f"{root} holds a path longer than {MAX_PATH_BYTES} bytes ({path[:80]}...)")
            yield path, fd, name, st
            if stat.S_ISDIR(st.st_mode):
                if len(stack) >= MAX_DEPTH:
                    raise TreeTooLarge(f"{root} holds folders nested deeper than {MAX_DEPTH} levels ({path[:80]}...)")
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                stack.append((sub, path, sorted(os.listdir(sub))))
    finally:
        for fd, _rel, _names in stack:
            os.close(fd)


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
