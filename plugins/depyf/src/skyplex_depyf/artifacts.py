"""What a dump records besides decompiled code: the FX graph each compiled frame captured, the guards
Dynamo checks before running the transformed code, and an HTML index linking every file.

Graphs are read by wrapping ``OutputGraph.call_user_compiler`` (the one place every backend is
handed its graph) for the duration of a dump; guards are read from Dynamo's cache entries of each
compiled code object when the dump closes. Both are private torch APIs: when one is missing or
changes shape, the dump records the error and goes on, and the wrapped call always runs unchanged.
"""

from __future__ import annotations

import html
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: object ids in guard text (``___check_obj_id(G['torch'], 1397...)``) differ in every process
_OBJECT_ID = re.compile(r"\b\d{9,}\b")


class GraphRecorder:
    """Collects the readable source of each FX graph handed to a backend, in compile order."""

    def __init__(self, errors: list[str]) -> None:
        self.pending: list[str] = []
        self.errors = errors
        self._restore: Callable[[], None] | None = None

    def install(self) -> None:
        """Wrap the backend entry point; records an error (and captures nothing) where it is absent."""
        try:
            from torch._dynamo.output_graph import OutputGraph

            original = OutputGraph.call_user_compiler
        except (ImportError, AttributeError) as exc:
            self.errors.append(f"FX graphs not captured: this torch has no OutputGraph.call_user_compiler ({exc})")
            return
        recorder = self

        def call_user_compiler(graph_self: Any, gm: Any, example_inputs: Any) -> Any:
            try:
                recorder.pending.append(readable_graph(gm))
            except Exception as exc:  # reading the graph must never stop the compile
                recorder.errors.append(f"FX graph not read: {type(exc).__name__}: {exc}")
            return original(graph_self, gm, example_inputs)

        OutputGraph.call_user_compiler = call_user_compiler  # type: ignore[method-assign]

        def restore() -> None:
            OutputGraph.call_user_compiler = original  # type: ignore[method-assign]

        self._restore = restore

    def take(self) -> list[str]:
        """The graphs captured since the last call (those of the frame being finished)."""
        graphs, self.pending = self.pending, []
        return graphs

    def remove(self) -> None:
        if self._restore is not None:
            self._restore()
            self._restore = None


def readable_graph(gm: Any) -> str:
    """An FX GraphModule as Python source (``print_readable``, else its generated ``code``)."""
    printer = getattr(gm, "print_readable", None)
    if printer is not None:
        return printer(print_output=False)
    return str(gm.code)


def guard_entries(code: types.CodeType) -> list[tuple[types.CodeType | None, list[str], str]]:
    """For each Dynamo cache entry of ``code``: (its transformed code, guard expressions, guard tree)."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    out = []
    for entry in _debug_get_cache_entry_list(code):
        manager = getattr(entry, "guard_manager", None)
        parts = list(getattr(manager, "code_parts", None) or [])
        tree = str(manager) if manager is not None else ""
        out.append((getattr(entry, "code", None), [str(p) for p in parts], tree))
    return out


def guards_source(title: str, parts: list[str], tree: str) -> str:
    """Guards as a Python file that compiles: the expressions as a list of strings (they name
    Dynamo's own helpers, so they are read, not run) and the guard tree as comments."""
    lines = [f"# {title}", "# The transformed code runs only while every guard below holds; when one fails,",
             "# Dynamo recompiles the frame. Object ids are masked (ID) so dumps compare across runs.", "",
             "GUARDS = ["]
    lines += [f"    {_OBJECT_ID.sub('ID', part)!r}," for part in parts]
    lines += ["]", ""]
    if tree:
        lines += ["# how torch checks them:"] + [f"# {_OBJECT_ID.sub('ID', line)}".rstrip()
                                                 for line in tree.strip("\n").splitlines()]
    return "\n".join(lines) + "\n"


def write_index(folder: Path, frames: list[Any], errors: list[str], title: str = "torch.compile dump") -> Path:
    """``index.html``: one row per compiled frame, linking its files, with the decompiler's verdict."""
    rows = []
    for frame in frames:
        links = " ".join(f'<a href="{html.escape(name)}">{html.escape(_kind(name))}</a>' for name in frame.files)
        state = "source" if frame.transformed_verified else "dis listing"
        rows.append(f"<tr><td>{frame.index:03d}</td><td>{html.escape(frame.function)}</td>"
                    f"<td>{html.escape(Path(frame.filename).name)}:{frame.firstlineno}</td>"
                    f"<td>{len(frame.graphs)}</td><td>{frame.guard_count}</td><td>{state}</td><td>{links}</td></tr>")
    problems = "".join(f"<li>{html.escape(e)}</li>" for e in errors) or "<li>none</li>"
    page = (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1>\n<p>{len(frames)} compiled frames, in compile order.</p>\n"
            "<table><tr><th>#</th><th>function</th><th>defined at</th><th>graphs</th><th>guards</th>"
            "<th>transformed code</th><th>files</th></tr>\n" + "\n".join(rows) + "\n</table>\n"
            + ('<p>What compiling cost: <a href="cost.txt">cost.txt</a> (<a href="cost.json">json</a>)</p>\n'
               if (folder / "cost.txt").exists() else "")
            + f"<h2>Inspection errors</h2><ul>{problems}</ul>\n</body></html>\n")
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _kind(name: str) -> str:
    match = re.search(r"_(original|transformed|guards|graph_\d+|inductor_\d+)\.py$", name)
    return match.group(1) if match else name
