"""See what torch.compile did: every frame Dynamo transforms is written to a folder as source.

``dump_compiled(folder)`` (also ``skyplex_depyf.debug.debug``) registers a bytecode hook with Dynamo
(``torch._dynamo.convert_frame.register_bytecode_hook``) for the duration of a ``with`` block. For
each transformed frame it writes the original and the transformed code decompiled (or, where the
decompiler refuses, the refusal and a ``dis`` listing as comments), each FX graph the frame captured
as readable source, and, when the block closes, the guards Dynamo checks before running the
transformed code, plus ``manifest.json`` and an ``index.html`` linking it all. Every ``.py`` file
compiles. Files are numbered in the order Dynamo compiles frames and volatile ids are masked, so the
same program gives the same folder. The hook never returns a replacement code object and swallows its
own failures (recorded in ``errors.txt``): inspection cannot change what the program computes.
"""

from __future__ import annotations

import json
import re
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import GraphRecorder, guard_entries, guards_source, write_index
from .decompiler import decompile
from .kernels import CostRecorder, KernelRecorder, cost_text


@dataclass
class FrameRecord:
    """One frame Dynamo compiled: where it came from and the files written for it."""

    index: int
    function: str
    filename: str
    firstlineno: int
    transformed_name: str
    files: list[str] = field(default_factory=list)
    transformed_verified: bool = False
    original_verified: bool = False
    graphs: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    guard_count: int = 0


@dataclass
class Dump:
    """What a ``dump_compiled`` block wrote: the folder, the frames, and any inspection errors."""

    folder: Path
    frames: list[FrameRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    script_error: str | None = None
    cost: dict | None = None

    def manifest(self) -> dict:
        """The JSON manifest written as ``manifest.json``."""
        return {"frames": [vars(f) for f in self.frames], "errors": self.errors}


#: per-process ids Dynamo puts in generated names, and object addresses in listings: masked in the
#: written files so that two dumps of the same program are identical
_VOLATILE = re.compile(r"_[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}|at 0x[0-9a-f]+"
                       r"|/\S*torchinductor_[^/\s]*/\S*")


def stable_text(text: str) -> str:
    """``text`` with Dynamo's random name suffixes, memory addresses and Inductor cache paths masked."""
    def mask(m: re.Match) -> str:
        found = m.group()
        return "at 0x..." if found.startswith("at") else "<inductor cache>" if "torchinductor_" in found else "_ID"

    return _VOLATILE.sub(mask, text)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "code"


def _header(title: str, code: types.CodeType) -> str:
    return (f"# {title}\n# from {code.co_filename}:{code.co_firstlineno} ({code.co_name})\n\n")


def _stem(record: FrameRecord) -> str:
    return f"{record.index:03d}_{_slug(record.function)}"


def _write_frame(dump: Dump, code: types.CodeType, new_code: types.CodeType, graphs: list[str],
                 kernels: list[str] | None = None) -> None:
    index = len(dump.frames)
    record = FrameRecord(index, code.co_name, code.co_filename, code.co_firstlineno, new_code.co_name)
    dump.frames.append(record)
    stem = _stem(record)
    for k, graph in enumerate(graphs):  # written first: a decompiler failure below must not lose them
        path = dump.folder / f"{stem}_graph_{k}.py"
        path.write_text(stable_text(f"# FX graph {k} captured from {code.co_name}: the operations handed to the "
                                    f"backend\n\n{graph}"), encoding="utf-8")
        record.graphs.append(path.name)
        record.files.append(path.name)
    for k, module in enumerate(kernels or []):  # Inductor's generated module: wrapper and kernels
        path = dump.folder / f"{stem}_inductor_{k}.py"
        path.write_text(stable_text(f"# Inductor's generated code {k} for {code.co_name}: the wrapper that runs "
                                    f"the compiled kernels\n\n{module}"), encoding="utf-8")
        record.kernels.append(path.name)
        record.files.append(path.name)
    for suffix, title, obj in (("original", "the function as written", code),
                               ("transformed", "the code Dynamo runs instead", new_code)):
        result = decompile(obj)
        path = dump.folder / f"{stem}_{suffix}.py"
        path.write_text(stable_text(_header(title, code) + result.text()), encoding="utf-8")
        record.files.append(path.name)
        setattr(record, f"{suffix}_verified", result.ok)


@contextmanager
def dump_compiled(folder: str | Path) -> Iterator[Dump]:
    """Within the block, write each frame torch.compile transforms into ``folder`` (created)."""
    from torch._dynamo.convert_frame import register_bytecode_hook

    dump = Dump(Path(folder))
    dump.folder.mkdir(parents=True, exist_ok=True)
    _clear_previous(dump.folder)
    lock = threading.Lock()
    compiled: list[tuple[FrameRecord, types.CodeType, types.CodeType]] = []
    graphs = GraphRecorder(dump.errors)
    kernels = KernelRecorder(dump.errors)
    cost = CostRecorder(dump.errors)

    def hook(code: types.CodeType, new_code: types.CodeType) -> None:
        try:
            with lock:
                _write_frame(dump, code, new_code, graphs.take(), kernels.take())
                compiled.append((dump.frames[-1], code, new_code))
        except Exception as exc:  # inspection must never break the compile
            dump.errors.append(f"{code.co_name}: {type(exc).__name__}: {exc}")
        return None

    graphs.install()
    _guarded(dump, "Inductor code not captured", kernels.install)
    _guarded(dump, "compile cost not measured", cost.start)
    handle = register_bytecode_hook(hook)
    try:
        yield dump
    finally:
        handle.remove()
        graphs.remove()
        kernels.remove()
        _finish(dump, compiled, cost)


def _guarded(dump: Dump, what: str, step: Any) -> None:
    """Run one inspection step; its failure is an entry in the dump's errors, never the program's."""
    try:
        step()
    except Exception as exc:
        dump.errors.append(f"{what}: {type(exc).__name__}: {exc}")


#: the files a dump writes; a new dump into the same folder removes these (and nothing else) first, so
#: the folder describes one run only
_OWN_FILE = re.compile(r"\d{3}_\w+_(original|transformed|guards|graph_\d+|inductor_\d+)\.py|index\.html|manifest\.json"
                       r"|errors\.txt|cost\.(txt|json)")


def _clear_previous(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file() and _OWN_FILE.fullmatch(path.name):
            path.unlink()


def _write_guards(dump: Dump, compiled: list) -> None:
    for record, code, new_code in compiled:
        try:
            entries = guard_entries(code)
        except Exception as exc:  # a private torch API: report, keep the rest of the dump
            dump.errors.append(f"{record.function}: guards not read: {type(exc).__name__}: {exc}")
            continue
        match = next(((parts, tree) for entry_code, parts, tree in entries if entry_code is new_code), None)
        if match is None:
            continue  # the entry was evicted (cache limit) or the frame compiled to nothing to guard
        parts, tree = match
        record.guard_count = len(parts)
        path = dump.folder / f"{_stem(record)}_guards.py"
        path.write_text(stable_text(guards_source(f"guards of {record.function} ({record.transformed_name})",
                                                  parts, tree)), encoding="utf-8")
        record.files.append(path.name)


def _write_cost(dump: Dump, cost: CostRecorder) -> None:
    dump.cost = cost.report()
    (dump.folder / "cost.json").write_text(json.dumps(dump.cost, indent=2, default=str) + "\n", encoding="utf-8")
    (dump.folder / "cost.txt").write_text(cost_text(dump.cost), encoding="utf-8")


def _finish(dump: Dump, compiled: list, cost: CostRecorder | None = None) -> None:
    """Guards, cost report, manifest, error list and index page, each written even when another fails."""
    try:
        _write_guards(dump, compiled)
    except Exception as exc:
        dump.errors.append(f"guards not written: {type(exc).__name__}: {exc}")
    if cost is not None:
        _guarded(dump, "cost report not written", lambda: _write_cost(dump, cost))
    try:
        (dump.folder / "manifest.json").write_text(json.dumps(dump.manifest(), indent=2) + "\n")
        write_index(dump.folder, dump.frames, dump.errors)
        if dump.errors:
            (dump.folder / "errors.txt").write_text("\n".join(dump.errors) + "\n")
    except OSError as exc:
        dump.errors.append(f"manifest not written: {exc}")


def dump_script(script: Path, folder: Path, argv: list[str] | None = None) -> Dump:
    """Run ``script`` as ``__main__`` under ``dump_compiled(folder)``. An exception the script raises
    is recorded as ``script_error`` (one line) and the partial dump stays on disk."""
    import runpy
    import sys

    saved = sys.argv
    sys.argv = [str(script), *(argv or [])]
    try:
        with dump_compiled(folder) as dump:
            try:
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    dump.script_error = f"exited with status {exc.code}"
            except BaseException as exc:  # the script's own failure, reported, not re-raised
                if isinstance(exc, KeyboardInterrupt):
                    raise
                dump.script_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        sys.argv = saved
    return dump
