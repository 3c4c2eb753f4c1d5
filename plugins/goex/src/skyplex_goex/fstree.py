"""Filesystem primitives for the fs actions: scanning without following links, staging copies, a
content-addressed blob store for pre-images, and writes that cannot leave their root.

Every write goes through a chain of directory file descriptors opened with ``O_NOFOLLOW``, so a symlink
anywhere on the way (planted before, or created by the action) makes the write fail instead of landing
outside the root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .faults import NO_FAULTS, FaultPoints
from .fswalk import MAX_DEPTH, MAX_PATH_BYTES, TreeTooLarge, chown_all, remove_tree, walk  # noqa: F401 (re-exported)

_CHUNK = 1 << 20


TEMP_PREFIX = ".goex-"


def temp_name(tag: str = "") -> str:
    """A name for a temporary file next to its target: fixed length (a 255-byte target name still
    fits) and unique, created with O_EXCL so it can never replace a file someone else put there.
    ``tag`` (an action id) lets recovery find the temp files a crash left behind for that action."""
    return f"{TEMP_PREFIX}{tag[:32]}-{uuid.uuid4().hex[:12]}.tmp"


@dataclass(frozen=True)
class Entry:
    """One path under a root: type ('f' file, 'd' dir, 'l' symlink), permission bits and what identifies content."""

    type: str
    mode: int
    size: int = 0
    mtime_ns: int = 0
    target: str | None = None  # symlinks only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scan(root: Path, *, max_entries: int | None = None) -> dict[str, Entry]:
    """Every path under ``root`` (relative, '/'-separated) with its Entry; links are not followed,
    special files (sockets, fifos, devices) are skipped. See :func:`walk` for the bounds."""
    out: dict[str, Entry] = {}
    for path, fd, name, st in walk(root, max_entries=max_entries):
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            out[path] = Entry("l", mode, target=os.readlink(name, dir_fd=fd))
        elif stat.S_ISDIR(st.st_mode):
            out[path] = Entry("d", mode)
        elif stat.S_ISREG(st.st_mode):
            out[path] = Entry("f", mode, st.st_size, st.st_mtime_ns)
    return out


def copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` into the (new) folder ``dst``: contents, modes, mtimes, symlinks as symlinks.
    Uses the kernel's copy_file_range underneath (shutil), which shares extents where the file system can."""
    os.mkdir(dst, stat.S_IMODE(src.stat().st_mode) | 0o700)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out = dst if rel == "." else dst / rel
        for d in dirnames:
            s = os.path.join(dirpath, d)
            if os.path.islink(s):
                os.symlink(os.readlink(s), out / d)
            else:
                os.mkdir(out / d, stat.S_IMODE(os.lstat(s).st_mode) | 0o700)
        for f in filenames:
            s = os.path.join(dirpath, f)
            st = os.lstat(s)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(s), out / f)
            elif stat.S_ISREG(st.st_mode):
                shutil.copy2(s, out / f, follow_symlinks=False)
    # directory modes last: a read-only folder must not block copying into it
    for dirpath, dirnames, _ in os.walk(src):
        for d in dirnames:
            s = os.path.join(dirpath, d)
            if not os.path.islink(s):
                os.chmod(dst / os.path.relpath(s, src), stat.S_IMODE(os.lstat(s).st_mode))


def file_digest(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def same_content(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(_CHUNK), fb.read(_CHUNK)
            if x != y:
                return False
            if not x:
                return True


class BlobStore:
    """Content-addressed file store (sha256) for pre-images; each blob is written once and fsynced."""

    def __init__(self, root: Path, faults: FaultPoints = NO_FAULTS) -> None:
        self.root = root
        self.faults = faults
        root.mkdir(parents=True, exist_ok=True)
        self._remove_dead_temps()

    def _remove_dead_temps(self) -> None:
        """Temp files of writers that died (their pid is in the name and no longer runs)."""
        for tmp in self.root.glob(f"*/{TEMP_PREFIX}*.tmp"):
            pid = tmp.name[len(TEMP_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                tmp.unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put_file(self, src: Path | str) -> str:
        digest = file_digest(src)
        dest = self.path(digest)
        if not dest.exists():
            dest.parent.mkdir(exist_ok=True)
            tmp = dest.parent / temp_name(str(os.getpid()))
            self.faults.reached("blob:write")
            try:
                with open(src, "rb") as fin, open(tmp, "xb") as fout:
                    h = hashlib.sha256()
                    while chunk := fin.read(_CHUNK):
                        h.update(chunk)
                        fout.write(chunk)
                    fout.flush()
                    os.fsync(fout.fileno())
                if h.hexdigest() != digest:  # the source changed while we copied it
                    raise ValueError(f"{src} changed while it was being saved")
                self.faults.reached("blob:rename")
                os.replace(tmp, dest)
            finally:
                if tmp.exists():
                    tmp.unlink()
        return digest

    def verify(self, digest: str) -> bool:
        """Whether the blob ``digest`` is present with exactly that content."""
        path = self.path(digest)
        return path.is_file() and file_digest(path) == digest


def read_xattrs(fd: int) -> dict[str, str]:
    """Extended attributes of an open file as {name: hex value}; {} where the file system has none."""
    try:
        names = os.listxattr(fd)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        try:
            out[name] = os.getxattr(fd, name).hex()
        except OSError:
            continue
    return out


def write_xattrs(fd: int, xattrs: dict[str, str]) -> None:
    """Make an open file's extended attributes exactly ``xattrs`` ({name: hex value})."""
    for name in read_xattrs(fd).keys() - xattrs.keys():
        os.removexattr(fd, name)
    for name, value in xattrs.items():
        os.setxattr(fd, name, bytes.fromhex(value))


def carried_xattrs(xattrs: dict[str, str]) -> dict[str, str]:
    """The attributes a new version of a file keeps, as an in-place write would: not the security.*
    ones (file capabilities, which the kernel drops on a write too, must not pass to new content)."""
    return {k: v for k, v in xattrs.items() if not k.startswith("security.")}


class EscapeError(PermissionError):
    """A path would leave its root (through '..' or a symlink)."""


class ContentMismatch(ValueError):
    """A file about to be written is not the content that was approved."""


class SafeRoot:
    """Writes under one root folder that never follow symlinks and never leave the root."""

    def __init__(self, root: Path, *, tag: str = "", faults: FaultPoints = NO_FAULTS) -> None:
        self.root = root
        self.tag = tag
        self.faults = faults

    def remove_temps(self, folders: set[str]) -> None:
        """Remove temp files tagged with this root's tag from ``folders`` (relative; "" is the root),
        left by a write a crash interrupted. Untagged names and other actions' are never touched."""
        prefix = f"{TEMP_PREFIX}{self.tag[:32]}-"
        for rel in folders:
            try:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW) if not rel else None
                if fd is None:
                    fd, name = self._parent_fd(rel)
                    try:
                        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    finally:
                        os.close(fd)
                    fd = nfd
            except OSError:
                continue
            try:
                for entry in os.listdir(fd):
                    if self.tag and entry.startswith(prefix) and entry.endswith(".tmp"):
                        os.unlink(entry, dir_fd=fd)
            finally:
                os.close(fd)

    def _parts(self, rel: str) -> list[str]:
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise EscapeError(f"refusing path {rel!r}: it is not a plain relative path under {self.root}")
        return parts

    def _parent_fd(self, rel: str) -> tuple[int, str]:
        """An fd of the folder holding ``rel`` and the last component; the caller closes the fd."""
        *dirs, name = self._parts(rel)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for d in dirs:
                try:
                    nfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    raise EscapeError(f"cannot reach {rel!r} under {self.root}: {d!r} is not a plain folder ({exc.strerror})") from None
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd, name

    def lstat(self, rel: str) -> os.stat_result | None:
        try:
            fd, name = self._parent_fd(rel)
        except (EscapeError, FileNotFoundError):
            return None
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(fd)

    def remove(self, rel: str) -> None:
        """Remove a file, symlink or (empty) folder; missing is fine (undo and recovery repeat themselves)."""
        fd, name = self._parent_fd(rel)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            self.faults.reached("fs:remove")
            if stat.S_ISDIR(st.st_mode):
                os.rmdir(name, dir_fd=fd)
            else:
                os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def write_file(self, rel: str, src: Path, mode: int, mtime_ns: int | None = None,
                   owner: tuple[int, int] | None = None, *, digest: str | None = None,
                   xattrs: dict[str, str] | None = None) -> None:
        """Replace ``rel`` with a copy of ``src`` atomically (temp file + rename in the same folder).

        With ``digest`` the copy is hashed as it is written and refused (nothing replaced) unless it
        has exactly that sha256: what lands is what was approved, whatever happened to ``src``."""
        fd, name = self._parent_fd(rel)
        tmp = temp_name(self.tag)
        try:
            self.faults.reached("fs:write")
            self._clear(fd, name, keep_file=True)
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
            try:
                h = hashlib.sha256()
                with open(src, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        os.write(out, chunk)
                if digest is not None and h.hexdigest() != digest:
                    raise ContentMismatch(f"refusing to write {rel}: its content is not the approved {digest[:12]}")
                if owner is not None:
                    os.fchown(out, *owner)  # before chmod: chown clears set-uid/set-gid bits
                if xattrs:
                    write_xattrs(out, xattrs)  # before chmod: an ACL sets the group bits, chmod has the last word
                os.fchmod(out, mode)
                os.fsync(out)
            except BaseException:
                os.close(out)
                os.unlink(tmp, dir_fd=fd)
                raise
            os.close(out)
            if mtime_ns is not None:
                os.utime(tmp, ns=(mtime_ns, mtime_ns), dir_fd=fd, follow_symlinks=False)
            self.faults.reached("fs:rename")
            os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        finally:
            os.close(fd)

    def xattrs(self, rel: str) -> dict[str, str]:
        """The extended attributes (ACLs included) of the file or folder ``rel``, values in hex; {} for
        a symlink, a missing path or a file system without them."""
        fd, name = self._parent_fd(rel)
        try:
            t = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            return {}
        finally:
            os.close(fd)
        try:
            return read_xattrs(t)
        finally:
            os.close(t)

    def set_xattrs(self, rel: str, xattrs: dict[str, str]) -> None:
        """Make the extended attributes of ``rel`` exactly ``xattrs`` (as :meth:`xattrs` returns them)."""
        fd, name = self._parent_fd(rel)
        try:
            t = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            write_xattrs(t, xattrs)
        finally:
            os.close(t)

    def chown(self, rel: str, owner: tuple[int, int], mode: int | None = None) -> None:
        """Set the owner of ``rel`` (never following a link), then its mode (chown clears set-uid bits)."""
        fd, name = self._parent_fd(rel)
        try:
            self.faults.reached("fs:chown")
            os.chown(name, *owner, dir_fd=fd, follow_symlinks=False)
            if mode is not None and not stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                t = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    os.fchmod(t, mode)
                finally:
                    os.close(t)
        finally:
            os.close(fd)

    def make_dir(self, rel: str, mode: int, owner: tuple[int, int] | None = None) -> None:
        fd, name = self._parent_fd(rel)
        try:
            self.faults.reached("fs:mkdir")
            self._clear(fd, name, keep_dir=True)
            try:
                os.mkdir(name, 0o700, dir_fd=fd)
            except FileExistsError:
                pass
            dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                if owner is not None:
                    os.fchown(dfd, *owner)  # before chmod, which must have the last word on the mode bits
                os.fchmod(dfd, mode)
            finally:
                os.close(dfd)
        finally:
            os.close(fd)

    def make_symlink(self, rel: str, target: str) -> None:
        fd, name = self._parent_fd(rel)
        try:
            self.faults.reached("fs:symlink")
            self._clear(fd, name)
            os.symlink(target, name, dir_fd=fd)
        finally:
            os.close(fd)

    def chmod(self, rel: str, mode: int) -> None:
        fd, name = self._parent_fd(rel)
        try:
            t = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                os.fchmod(t, mode)
            finally:
                os.close(t)
        finally:
            os.close(fd)

    @staticmethod
    def _clear(fd: int, name: str, *, keep_file: bool = False, keep_dir: bool = False) -> None:
        """Make room for ``name``: remove what is there unless it already has the wanted type."""
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if not keep_dir:
                os.rmdir(name, dir_fd=fd)  # only empty folders: their contents were handled first
        elif not (keep_file and stat.S_ISREG(st.st_mode)):
            os.unlink(name, dir_fd=fd)


def resolves_outside(base: Path, rel: str) -> bool:
    """Whether the symlink ``rel`` under ``base``, followed through every link on the way (chains,
    links to links, '..' after a link), ends outside ``base``."""
    real_base = os.path.realpath(base)
    real = os.path.realpath(os.path.join(base, rel))
    return not (real == real_base or real.startswith(real_base + os.sep))


def escapes(root_rel_link: str, target: str) -> bool:
    """Whether a symlink at ``root_rel_link`` (relative to a root) pointing at ``target`` leaves the root."""
    if os.path.isabs(target):
        return True
    base = os.path.dirname(root_rel_link)
    norm = os.path.normpath(os.path.join(base, target))
    return norm == ".." or norm.startswith("../")
