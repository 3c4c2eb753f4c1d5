"""Inductor's generated code for each compiled graph, and what each frame's compile cost.

Inductor announces every module it generates (the Python wrapper with its C++ or Triton kernels) on
its ``output_code`` log; during a dump a handler on that log collects the files in compile order, so
each frame gets the code of the graphs it handed to Inductor. Dynamo keeps one metrics record per
frame compile (time in Dynamo and in the backend, guards, the guard that failed before a
recompilation) and counts graph breaks by reason; the cost report is the part of both that the dump's
``with`` block produced. All of it is read-only: a missing API is an error in the dump, never in the
program, and a log the user enabled keeps its own level and handlers."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

OUTPUT_CODE_LOGGERS = ("torch._inductor.codecache.__output_code", "torch._inductor.graph.__output_code")
_WRITTEN = "Output code written to:"


class KernelRecorder(logging.Handler):
    """Collects the paths of the modules Inductor writes, in order, without duplicates."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.errors = errors
        self.pending: list[str] = []
        self._seen: set[str] = set()
        self._saved: list[tuple[logging.Logger, int, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if str(record.msg).startswith(_WRITTEN) and record.args:
                path = str(record.args[0])
                if path not in self._seen:
                    self._seen.add(path)
                    self.pending.append(Path(path).read_text(encoding="utf-8"))
        except Exception as exc:  # never let a log record fail the compile
            self.errors.append(f"Inductor code not read: {type(exc).__name__}: {exc}")

    def install(self) -> None:
        for name in OUTPUT_CODE_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level, logger.propagate))
            if not logger.isEnabledFor(logging.DEBUG):  # off, as by default: enable it for us alone
                logger.setLevel(logging.DEBUG)
                logger.propagate = False
            logger.addHandler(self)

    def remove(self) -> None:
        for logger, level, propagate in self._saved:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate
        self._saved = []

    def take(self) -> list[str]:
        """The modules generated since the last call (those of the frame being finished)."""
        kernels, self.pending = self.pending, []
        return kernels


#: fields of Dynamo's per-compile metrics kept in the cost report
COST_FIELDS = ("compile_id", "co_name", "co_firstlineno", "entire_frame_compile_time_s", "backend_compile_time_s",
               "inductor_compile_time_s", "guard_count", "graph_op_count", "graph_node_count", "recompile_reason",
               "fail_type", "fail_reason", "restart_reasons")


class CostRecorder:
    """Dynamo's compile metrics and graph-break counts produced between ``start`` and ``report``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.started_us = 0
        self.breaks_before: dict[str, int] = {}

    def start(self) -> None:
        self.started_us = int(time.time() * 1e6)
        self.breaks_before = dict(self._graph_breaks())

    @staticmethod
    def _graph_breaks() -> dict[str, int]:
        from torch._dynamo.utils import counters

        return dict(counters["graph_break"])

    def report(self) -> dict[str, Any]:
        """``{"frames": [...], "graph_breaks": {reason: count}, "totals": {...}}``."""
        from torch._dynamo.utils import get_compilation_metrics

        frames = []
        for metrics in get_compilation_metrics():
            start = getattr(metrics, "start_time_us", None) or 0
            if start < self.started_us:
                continue
            row = {}
            for name in COST_FIELDS:
                value = getattr(metrics, name, None)
                row[name] = sorted(value) if isinstance(value, (set, frozenset)) else value
            frames.append(row)
        breaks = {reason: n - self.breaks_before.get(reason, 0) for reason, n in self._graph_breaks().items()
                  if n > self.breaks_before.get(reason, 0)}
        totals = {"frame_compiles": len(frames),
                  "recompiles": sum(1 for f in frames if f.get("recompile_reason")),
                  "graph_breaks": sum(breaks.values()),
                  "compile_time_s": round(sum(f.get("entire_frame_compile_time_s") or 0 for f in frames), 6),
                  "backend_time_s": round(sum(f.get("backend_compile_time_s") or 0 for f in frames), 6)}
        return {"frames": frames, "graph_breaks": breaks, "totals": totals}


def cost_text(report: dict[str, Any]) -> str:
    """The cost report as a table a person reads: one line per frame compile, then graph breaks."""
    t = report["totals"]
    lines = [f"{t['frame_compiles']} frame compile(s), {t['recompiles']} recompile(s), {t['graph_breaks']} graph "
             f"break(s); {t['compile_time_s']:.3f} s compiling, {t['backend_time_s']:.3f} s of it in the backend", "",
             f"{'compile':<8} {'function':<24} {'total s':>8} {'backend s':>9} {'guards':>6} {'ops':>5}  reason"]
    for f in report["frames"]:
        reason = f.get("recompile_reason") or f.get("fail_reason") or ""
        lines.append(f"{str(f.get('compile_id')):<8} {str(f.get('co_name'))[:24]:<24} "
                     f"{f.get('entire_frame_compile_time_s') or 0:>8.3f} {f.get('backend_compile_time_s') or 0:>9.3f} "
                     f"{f.get('guard_count') or 0:>6} {f.get('graph_op_count') or 0:>5}  {reason}".rstrip())
    if report["graph_breaks"]:
        lines += ["", "graph breaks (count, reason):"]
        lines += [f"  {n:>3}  {reason}" for reason, n in sorted(report["graph_breaks"].items())]
    return "\n".join(lines) + "\n"


def metrics_field_names() -> set[str]:
    """The fields this torch's compile metrics have (for the report's self-check)."""
    from torch._dynamo.utils import CompilationMetrics

    return {f.name for f in dataclasses.fields(CompilationMetrics)}
