"""Filesystem actions: a shell command run in the sandbox over a staged copy of a folder.

run      copy the folder to a stage, run the command there under skyplex.sandbox, diff stage vs real;
         once the sandbox has ended every process of the run, the new contents go into the
         content-addressed blob store, the preview carries their hashes and one ``staged_hash`` over
         all changes, and the stage is deleted: nothing can change what was previewed afterwards
commit   check the preview still hashes to ``staged_hash`` and the real folder did not change since,
         save pre-images (content-addressed, fsynced) in the journal, then apply the diff from the
         blobs, each write checked against its hash, never following symlinks or leaving the folder
undo     check the folder still holds what the commit wrote (and nothing new inside folders the
         action created), then restore the pre-images, last change first
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.sandbox import Sandbox, SandboxPolicy
from skyplex.sandbox.workspace import mount_limited_fs, umount

from .fstree import (BlobStore, Entry, SafeRoot, carried_xattrs, copy_tree, file_digest, resolves_outside,
                     same_content, scan)
from .fswalk import TreeTooLarge, chown_all, remove_tree
from .handlers import ActionContext, ActionFailed, ActionHandler, Classification, ConflictError

log = logging.getLogger(__name__)
MAX_TEXT_DIFF = 64 * 1024
MAX_DIFF_FILE_BYTES = 256 * 1024
MAX_DIFF_LINES = 4000
#: the largest stage (copy of the root plus the run's disk allowance) held in memory as a bounded tmpfs
MAX_BOUNDED_STAGE_MB = 4096
_PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID


class FsHandler(ActionHandler):
    """``{"root": "/abs/folder", "command": "shell script"}``; the command sees the folder as its cwd."""

    kind = "fs"

    def __init__(self, blobs: BlobStore, stage_base: Path, policy: SandboxPolicy, protected: list[Path]) -> None:
        self.blobs = blobs
        self.stage_base = stage_base
        self.sandbox = Sandbox(policy)
        self.protected = [p.resolve() for p in (*protected, stage_base)]

    def validate(self, payload: dict[str, Any]) -> dict[str, Any]:
        root, command = payload.get("root"), payload.get("command")
        if not isinstance(root, str) or not os.path.isabs(root):
            raise InvalidInputError(f"fs action needs 'root', an absolute folder path; got {root!r}", field="payload.root")
        if not isinstance(command, str) or not command.strip():
            raise InvalidInputError("fs action needs 'command', the shell script to run", field="payload.command")
        real = Path(root).resolve()
        if not real.is_dir():
            raise InvalidInputError(f"fs action root {root} is not an existing folder", field="payload.root")
        if real == Path("/") or any(real.is_relative_to(p) or p.is_relative_to(real) for p in self.protected):
            raise InvalidInputError(f"fs action root {real} contains skyplex's own data (journal, vault); "
                                    "choose a folder that does not", field="payload.root")
        return {"root": str(real), "command": command}

    def classify(self, payload: dict[str, Any]) -> Classification:
        return "reversible"

    def resources(self, payload: dict[str, Any]) -> set[str]:
        return {f"fs:{payload['root']}"}

    def _stage(self, ctx: ActionContext) -> Path:
        return self.stage_base / ctx.id / "ws"

    # run ------------------------------------------------------------------------------------------------
    def run(self, ctx: ActionContext) -> dict[str, Any]:
        root = Path(ctx.payload["root"])
        stage = self._stage(ctx)
        _remove_stage(stage.parent)
        stage.parent.mkdir(parents=True, mode=0o711)
        before = scan(root)
        self._bound_stage(stage.parent, before)
        copy_tree(root, stage)
        res = self.sandbox.run(["sh", "-c", ctx.payload["command"]], workspace=stage)
        try:
            if os.geteuid() == 0:  # the sandbox user owned the stage while it ran; take it back
                chown_all(stage.parent, 0, 0)
            # what the run left is read within bounds: a tree too deep, too long or too large to
            # handle is refused, not half-read
            staged = scan(stage, max_entries=self._entry_bound(before))
        except TreeTooLarge as exc:
            _remove_stage(stage.parent)
            raise ActionFailed(f"the command left a tree goex will not commit: {exc}") from None
        changes = diff(root, before, stage, staged)
        # every link of the result, followed through chains, must stay inside (links the folder had
        # before and the action left alone are the owner's business)
        changed_links = {c["path"] for c in changes if (c.get("after") or {}).get("type") == "l"}
        bad = [path for path, e in staged.items() if e.type == "l" and resolves_outside(stage, path)
               and (path in changed_links or not resolves_outside(root, path))]
        inexact = _inexact_reasons(root, changes)
        text = text_diff(root, stage, changes)
        if not bad and not res.killed_by:
            # the sandbox has killed every process of the run: what is saved now is what is previewed
            for c in changes:
                if (c.get("after") or {}).get("type") == "f":
                    c["after"]["digest"] = self.blobs.put_file(stage / c["path"])
        _remove_stage(stage.parent)
        preview = {
            "returncode": res.returncode, "killed_by": res.killed_by, "duration_s": round(res.duration, 3),
            "stdout": res.text()[-8000:], "stderr": res.text("stderr")[-8000:],
            "changes": changes, "diff": text,
            "summary": _summary(changes), "staged_hash": staged_hash(changes),
            "exact_undo": not inexact, "inexact_undo_reasons": inexact,
        }
        privileged = [c["path"] for c in changes if (c.get("after") or {}).get("mode", 0) & 0o6000
                      and ((c.get("before") or {}).get("mode", 0) & 0o6000) != c["after"]["mode"] & 0o6000]
        if privileged:
            raise ActionFailed(f"the command set set-uid/set-gid bits on {', '.join(privileged[:5])}; such files "
                               "are never committed")
        if bad:
            raise ActionFailed(f"the command created symlinks that point outside {root}: {', '.join(bad)}; "
                               "such links are never committed")
        if res.killed_by:
            raise ActionFailed(f"the command was stopped by the sandbox ({res.killed_by}); nothing will be applied. "
                               f"stderr: {res.text('stderr')[-500:]}")
        return preview

    def _entry_bound(self, before: dict[str, Entry]) -> int:
        """How many files and folders a run's result may hold: the root's and the policy's allowance."""
        return len(before) + self.sandbox.policy.workspace_inodes

    def _bound_stage(self, folder: Path, before: dict[str, Entry]) -> None:
        """As root, make ``folder`` a file system of its own holding the copy of the root plus the
        policy's ``disk_mb`` and ``workspace_inodes``, so the kernel refuses (ENOSPC) anything past them
        while the command runs. Skipped (the limits are then the sandbox's disk watchdog and the entry
        count checked after the run) where it cannot be mounted or the copy would make it larger than
        :data:`MAX_BOUNDED_STAGE_MB` of memory."""
        if os.geteuid() != 0:
            return
        p = self.sandbox.policy
        files = [e for e in before.values() if e.type == "f"]
        # tmpfs charges whole pages: a small file takes one
        size_mb = (sum(-(-e.size // 4096) * 4096 for e in files) >> 20) + 1 + p.disk_mb
        if size_mb > MAX_BOUNDED_STAGE_MB:
            log.info("goex stage for %d MB left on the stage folder's file system (over %d MB)", size_mb,
                     MAX_BOUNDED_STAGE_MB)
            return
        if mount_limited_fs(folder, size_mb, self._entry_bound(before) + 2):  # + the stage and its parent
            os.chmod(folder, 0o711)  # the sandbox user must traverse it; nobody may list it

    # commit ----------------------------------------------------------------------------------------------
    def prepare_commit(self, ctx: ActionContext) -> dict[str, Any]:
        root = Path(ctx.payload["root"])
        _check_root(root, ctx.id)
        changes = ctx.preview["changes"]
        if staged_hash(changes) != ctx.preview.get("staged_hash"):
            raise ConflictError(f"the changes recorded for action {ctx.id} do not hash to the previewed "
                                f"{str(ctx.preview.get('staged_hash'))[:12]}; refusing to commit. Run it again")
        for c in changes:
            digest = (c.get("after") or {}).get("digest", "")
            if (c.get("after") or {}).get("type") == "f" and not self.blobs.verify(digest):
                raise ConflictError(f"the approved content of {c['path']} ({digest[:12]}) is missing or damaged "
                                    f"in goex's store; run action {ctx.id} again")
        safe = SafeRoot(root)
        pre: list[dict[str, Any]] = []
        for c in changes:
            cur = _entry_at(safe, root, c["path"])
            if cur != c.get("before"):
                raise ConflictError(f"{root}/{c['path']} changed since action {ctx.id} ran; run it again to see "
                                    "the effect on the current files")
            item = {"path": c["path"], "before": cur}
            if cur is not None:
                st = safe.lstat(c["path"])
                item["owner"] = [st.st_uid, st.st_gid]
                if cur["type"] != "l":
                    item["xattrs"] = safe.xattrs(c["path"])  # ACLs and user attributes: undo puts them back
            if cur and cur["type"] == "f":
                item["blob"] = self.blobs.put_file(root / c["path"])
            after = c.get("after")
            if after and after["type"] == "f":
                item["after_digest"] = after["digest"]
            pre.append(item)
        return {"root": str(root), "pre_images": pre}

    def apply(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any]:
        root = Path(ctx.payload["root"])
        safe = SafeRoot(root, tag=ctx.id, faults=ctx.faults)
        owner = _owner_of(root)
        changes = ctx.preview["changes"]
        kept = {i["path"]: i.get("xattrs") or {} for i in undo_data.get("pre_images", [])}
        # deletions deepest first (a folder empties before it goes), then creations shallowest first
        for c in sorted(changes, key=_apply_order):
            after = c.get("after")
            if after is None:
                safe.remove(c["path"])
            elif after["type"] == "d":
                safe.make_dir(c["path"], after["mode"], owner)
            elif after["type"] == "l":
                safe.make_symlink(c["path"], after["target"])
            else:
                before = c.get("before")
                keep = None
                if before and before["type"] == "f":
                    st = safe.lstat(c["path"])
                    keep = (st.st_uid, st.st_gid) if st else owner
                safe.write_file(c["path"], self.blobs.path(after["digest"]), after["mode"], after["mtime_ns"],
                                keep or owner, digest=after["digest"],
                                xattrs=carried_xattrs(kept.get(c["path"], {})) if keep else None)
        # owner and extended attributes of what was written: a later change of either by someone else is a
        # conflict for undo, like a change of content or mode
        written = {c["path"]: _meta(safe, c["path"]) for c in changes if c.get("after")}
        return {"applied": len(changes), "summary": ctx.preview.get("summary"), "written_meta": written}

    # undo ------------------------------------------------------------------------------------------------
    def rollback(self, ctx: ActionContext, undo_data: dict[str, Any]) -> None:
        if not undo_data:
            return  # died before the pre-images were journalled, so before anything was applied
        root = Path(undo_data["root"])
        safe = SafeRoot(root, tag=ctx.id, faults=ctx.faults)
        safe.remove_temps(_folders_of(undo_data["pre_images"]))
        self._restore(safe, root, undo_data["pre_images"])

    def undo(self, ctx: ActionContext, undo_data: dict[str, Any], outcome: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        root = Path(undo_data["root"])
        _check_root(root, ctx.id)
        safe = SafeRoot(root, tag=ctx.id, faults=ctx.faults)
        safe.remove_temps(_folders_of(undo_data["pre_images"]))  # left by an interrupted commit or undo
        if not force:
            written = (outcome or {}).get("written_meta") or {}
            drift = []
            for item, c in zip(undo_data["pre_images"], ctx.preview["changes"]):
                cur = _entry_at(safe, root, item["path"])
                after = c.get("after")
                if (cur is None) != (after is None) or (cur and after and (cur["type"], cur["mode"], cur.get("target")) != (after["type"], after["mode"], after.get("target"))):
                    drift.append(item["path"])
                elif cur and cur["type"] == "f" and file_digest(root / item["path"]) != item.get("after_digest"):
                    drift.append(item["path"])
                elif cur and item["path"] in written and _meta(safe, item["path"]) != written[item["path"]]:
                    drift.append(item["path"])  # chown, ACL or attribute changed since the commit
            if drift:
                raise ConflictError(f"{len(drift)} path(s) changed after action {ctx.id} was committed "
                                    f"({', '.join(drift[:5])}); undo would overwrite those changes. Undo the later "
                                    "actions first, or pass force=True to restore anyway")
        foreign = _foreign_entries(safe, root, undo_data["pre_images"])
        if foreign:
            # force restores paths the action wrote; it never deletes what someone else put there
            raise ConflictError(f"{len(foreign)} path(s) were added after action {ctx.id} was committed inside "
                                f"folders that undo would remove ({', '.join(foreign[:5])}); move them elsewhere "
                                "first, then undo again")
        self._restore(safe, root, undo_data["pre_images"])
        exact = ctx.preview.get("exact_undo", True) and all(_entry_at(safe, root, i["path"]) == _comparable(i["before"])
                    and (i["before"] is None or i["before"]["type"] != "f" or file_digest(root / i["path"]) == i["blob"])
                    and ("xattrs" not in i or safe.xattrs(i["path"]) == i["xattrs"])
                    for i in undo_data["pre_images"])
        return {"restored": len(undo_data["pre_images"]), "restored_exactly": exact}

    def _restore(self, safe: SafeRoot, root: Path, pre_images: list[dict[str, Any]]) -> None:
        # remove what the commit created, deepest first; then rebuild what was there, shallowest first
        for item in sorted(pre_images, key=lambda i: -i["path"].count("/")):
            cur = safe.lstat(item["path"])
            if cur is None:
                continue  # already gone (or its folder is: a nested delete is restored below)
            if item["before"] is None or item["before"]["type"] != (_entry_at(safe, root, item["path"]) or {}).get("type"):
                if stat.S_ISDIR(cur.st_mode):
                    _empty_dir(safe, root, item["path"])
                safe.remove(item["path"])
        for item in sorted(pre_images, key=lambda i: i["path"].count("/")):
            b = item["before"]
            if b is None:
                continue
            owner = tuple(item["owner"]) if item.get("owner") and os.geteuid() == 0 else None
            if b["type"] == "d":
                safe.make_dir(item["path"], b["mode"], owner)
                if "xattrs" in item:
                    safe.set_xattrs(item["path"], item["xattrs"])
                    safe.chmod(item["path"], b["mode"])  # a restored ACL set the group bits; the mode has the last word
            elif b["type"] == "l":
                safe.make_symlink(item["path"], b["target"])
                if owner is not None:
                    safe.chown(item["path"], owner)
            else:
                safe.write_file(item["path"], self.blobs.path(item["blob"]), b["mode"], b["mtime_ns"],
                                owner, digest=item["blob"], xattrs=item.get("xattrs"))

    def discard(self, ctx: ActionContext) -> None:
        _remove_stage(self._stage(ctx).parent)


# diffing ------------------------------------------------------------------------------------------------
def diff(root: Path, before: dict[str, Entry], stage: Path, after: dict[str, Entry]) -> list[dict[str, Any]]:
    """Changes from ``root`` to ``stage``: content, type, mode and link targets (mtime-only changes are ignored)."""
    out = []
    for path in sorted(before.keys() | after.keys()):
        b, a = before.get(path), after.get(path)
        if a is not None and a.type == "f" and a.mode & _PRIVILEGE_BITS == 0:
            # the sandbox never sees set-uid/set-gid bits (handing the copy to its user clears them):
            # an untouched file keeps them, one whose content changed loses them as a write would
            keep = b.mode & _PRIVILEGE_BITS if b is not None and b.type == "f" and b.size == a.size \
                and same_content(root / path, stage / path) else 0
            a = Entry(a.type, a.mode | keep, a.size, a.mtime_ns, a.target)
        if b == a:
            continue
        if b and a and b.type == a.type == "f" and b.mode == a.mode and b.size == a.size \
                and same_content(root / path, stage / path):
            continue
        if b and a and b.type == a.type == "d" and b.mode == a.mode:
            continue
        op = "add" if b is None else "delete" if a is None else "modify"
        out.append({"path": path, "op": op, "before": _comparable(b.to_dict()) if b else None,
                    "after": a.to_dict() if a else None})
    return out


def text_diff(root: Path, stage: Path, changes: list[dict[str, Any]]) -> str:
    """A unified diff of the text files among ``changes``, cut at 64 kB. Files over
    :data:`MAX_DIFF_FILE_BYTES` or :data:`MAX_DIFF_LINES` lines are named, not diffed: the command
    chooses what is diffed, and comparing two large texts line by line takes the host hours."""
    parts, size = [], 0
    for c in changes:
        kinds = {(c.get("before") or {}).get("type"), (c.get("after") or {}).get("type")} - {None}
        if kinds != {"f"}:
            continue
        if size > MAX_TEXT_DIFF:
            parts.append("... (diff truncated)\n")
            break
        sizes = [(c.get(side) or {}).get("size", 0) for side in ("before", "after")]
        if max(sizes) > MAX_DIFF_FILE_BYTES:
            parts.append(f"File {c['path']} {c['op']} ({sizes[0]} -> {sizes[1]} bytes; too large to diff)\n")
            continue
        old = _text_lines(root / c["path"]) if c["before"] else []
        new = _text_lines(stage / c["path"]) if c["after"] else []
        if old is None or new is None:
            parts.append(f"Binary file {c['path']} {c['op']}\n")
            continue
        if max(len(old), len(new)) > MAX_DIFF_LINES:
            parts.append(f"File {c['path']} {c['op']} ({len(old)} -> {len(new)} lines; too many to diff)\n")
            continue
        chunk = "".join(difflib.unified_diff(old, new, f"a/{c['path']}", f"b/{c['path']}"))
        size += len(chunk)
        parts.append(chunk[: max(MAX_TEXT_DIFF - size + len(chunk), 0)])
    return "".join(parts)


def _text_lines(path: Path) -> list[str] | None:
    try:
        data = path.read_bytes()
        return None if b"\0" in data[:8192] else data.decode("utf-8").splitlines(keepends=True)
    except (UnicodeDecodeError, OSError):
        return None


def _summary(changes: list[dict[str, Any]]) -> dict[str, int]:
    out = {"add": 0, "modify": 0, "delete": 0}
    for c in changes:
        out[c["op"]] += 1
    return out


def _comparable(e: dict[str, Any] | None) -> dict[str, Any] | None:
    """An Entry as compared before commit: mtime kept for files, dropped elsewhere."""
    if e is None:
        return None
    e = dict(e)
    if e["type"] != "f":
        e["mtime_ns"] = 0
        e["size"] = 0
    return e


def _entry_at(safe: SafeRoot, root: Path, rel: str) -> dict[str, Any] | None:
    st = safe.lstat(rel)
    if st is None:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return _comparable(Entry("l", mode, target=os.readlink(root / rel)).to_dict())
    if stat.S_ISDIR(st.st_mode):
        return _comparable(Entry("d", mode).to_dict())
    return Entry("f", mode, st.st_size, st.st_mtime_ns).to_dict()


def _check_root(root: Path, action_id: str) -> None:
    """ConflictError unless ``root`` is still a folder (not replaced by a symlink or removed)."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        st = None
    if st is None or not stat.S_ISDIR(st.st_mode):
        what = "is gone" if st is None else "is no longer a folder (a symlink or file took its place)"
        raise ConflictError(f"the folder {root} of action {action_id} {what}; nothing was changed")


def _meta(safe: SafeRoot, rel: str) -> list[Any] | None:
    """Owner, group and extended attributes of ``rel`` (None when it is missing)."""
    st = safe.lstat(rel)
    if st is None:
        return None
    return [st.st_uid, st.st_gid, {} if stat.S_ISLNK(st.st_mode) else safe.xattrs(rel)]


def _folders_of(pre_images: list[dict[str, Any]]) -> set[str]:
    """The folders (relative) that hold the paths an action wrote: where its temp files could be."""
    return {i["path"].rpartition("/")[0] for i in pre_images}


def staged_hash(changes: list[dict[str, Any]]) -> str:
    """sha256 over the canonical JSON of the changes (paths, types, modes, link targets, content hashes)."""
    body = json.dumps(changes, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _inexact_reasons(root: Path, changes: list[dict[str, Any]]) -> list[str]:
    """What undo cannot put back exactly, said before commit: files with other hard links (undo
    restores the content under this name, as a file of its own)."""
    out = []
    for c in changes:
        if (c.get("before") or {}).get("type") == "f":
            st = os.lstat(root / c["path"])
            if st.st_nlink > 1:
                out.append(f"{c['path']} has {st.st_nlink - 1} other hard link(s); undo restores its content "
                           "as a separate file")
    return out


def _foreign_entries(safe: SafeRoot, root: Path, pre_images: list[dict[str, Any]]) -> list[str]:
    """Paths inside folders that undo removes (the action created them) that the action did not write."""
    known = {i["path"] for i in pre_images}
    out = []
    for item in pre_images:
        cur = safe.lstat(item["path"])
        if cur is None or not stat.S_ISDIR(cur.st_mode):
            continue
        if item["before"] is not None and item["before"]["type"] == "d":
            continue  # a folder that stays: its other contents are not touched
        for rel in scan(root / item["path"]):
            if f"{item['path']}/{rel}" not in known:
                out.append(f"{item['path']}/{rel}")
    return out


def _apply_order(c: dict[str, Any]) -> tuple[int, int, str]:
    depth = c["path"].count("/")
    if c.get("after") is None:
        return (0, -depth, c["path"])
    return (1, depth, c["path"])


def _empty_dir(safe: SafeRoot, root: Path, rel: str) -> None:
    for path in sorted(scan(root / rel), key=lambda p: -p.count("/")):
        safe.remove(f"{rel}/{path}")


def _owner_of(root: Path) -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    st = root.stat()
    return (st.st_uid, st.st_gid)


def _remove_stage(path: Path) -> None:
    """Remove a stage (any depth, its own file system or not); a failure is logged, not raised: a stage
    is never read again."""
    try:
        if os.path.ismount(path):
            umount(path)
        remove_tree(path)
    except OSError as exc:
        log.warning("could not remove the goex stage %s: %s", path, exc)
