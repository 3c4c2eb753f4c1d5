"""How fast the kernel starts, and proof that starting it stays light.

Measures, each in fresh subprocesses (so every run is a cold import) and reported as medians:

* interpreter start-up alone (``python -c pass``), the floor everything else sits on;
* ``import skyplex`` (timed inside the process) and the whole process's wall time;
* building a ``Kernel`` (plugin manager, built-in and installed plugins, registries);
* the installed console script: ``skyplex --help`` and ``skyplex plugins``;
* ``python -X importtime -c "import skyplex"``: the modules that cost the most, and the cost per package;
* which heavy modules (torch, transformers, fastapi, uvicorn, sqlalchemy, ...) are in ``sys.modules``
  after ``import skyplex``, after creating a Kernel, and after running ``skyplex plugins`` / ``--help``;
* which model backend implementation modules (``skyplex.models.*``) ``Kernel()`` imported, with their
  lines of code: none, because the built-in plugin registers them by reference. The baseline, run
  interleaved in the same processes' rhythm, registers the backend modules themselves as plugins (how
  built-ins were registered before): its ``Kernel()`` time and imported lines are shown beside ours.

Prints rich tables and writes JSON (``--out``). Exit status 1 when a heavy module leaks into a light
path or the import misses ``--target``. Usage::

    .venv/bin/python benchmarks/kernel_import.py --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "kernel_import.json"

#: modules that must not be imported by `import skyplex`, `Kernel()`, `skyplex plugins` or `--help`
HEAVY_MODULES = (
    "torch",
    "transformers",
    "accelerate",
    "gguf",
    "safetensors",
    "vllm",
    "openai",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "sqlalchemy.orm",
)
#: how the built-in model backends were registered before the built-in plugin (the baseline)
BACKEND_MODULES = (
    ("local", "skyplex.models.local"),
    ("openai", "skyplex.models.openai_backend"),
    ("vllm", "skyplex.models.vllm_backend"),
)
#: also reported (not failures): modules worth knowing about on the light paths
NOTED_MODULES = ("numpy", "pydantic", "pluggy", "yaml", "rich", "click")

# Runs in the child: times the import, then reports sys.modules at each step as JSON on stdout.
_PROBE = r"""
import io, json, sys, time, contextlib
heavy = {heavy!r}
noted = {noted!r}
def seen():
    return {{"heavy": sorted(m for m in heavy if m in sys.modules),
             "noted": sorted(m for m in noted if m in sys.modules),
             "modules": len(sys.modules)}}
t0 = time.perf_counter()
import skyplex
t1 = time.perf_counter()
report = {{"import_s": t1 - t0, "after_import": seen()}}
from skyplex import Kernel, Settings
t2 = time.perf_counter()
if {baseline!r}:
    import importlib
    from skyplex import make_plugin_manager
    mods = [(n, importlib.import_module(m)) for n, m in {backend_modules!r}]
    pm = make_plugin_manager(builtins=False, extra=mods)
    kernel = Kernel(settings=Settings.load(data_dir={data_dir!r}), pm=pm)
else:
    kernel = Kernel(settings=Settings.load(data_dir={data_dir!r}))
t3 = time.perf_counter()
backends = sorted(m for m in sys.modules if m.startswith("skyplex.models."))
report["backend_modules"] = backends
report["backend_lines"] = sum(sum(1 for _ in open(sys.modules[m].__file__)) for m in backends
                              if getattr(sys.modules[m], "__file__", None))
report["kernel_s"] = t3 - t2
report["after_kernel"] = seen()
report["plugins"] = [p["name"] for p in kernel.plugins()]
report["plugin_errors"] = [e.to_dict() for e in kernel.plugin_errors]
kernel.close()
if {cli!r}:
    from skyplex.cli.main import main
    for argv, key in ((["--help"], "after_cli_help"), (["plugins"], "after_cli_plugins")):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["--data-dir", {data_dir!r}, *argv])
        report[key] = {{**seen(), "exit_code": code}}
print("@@REPORT@@" + json.dumps(report))
"""


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    return time.perf_counter() - start, proc


def _checked(proc: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc


def _summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "samples_s": [round(s, 5) for s in samples],
    }


def measure_probe(python: str, env: dict[str, str], data_dir: str, repeats: int) -> dict[str, Any]:
    """Import and Kernel timings (in-process clocks) plus sys.modules snapshots, ``repeats`` times."""
    imports, kernels, walls = [], [], []
    baseline_kernels: list[float] = []
    baseline: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for i in range(repeats):
        # interleaved: one baseline process before each of ours, so machine-load drift hits both
        code = _PROBE.format(heavy=HEAVY_MODULES, noted=NOTED_MODULES, data_dir=data_dir, cli=False,
                             baseline=True, backend_modules=BACKEND_MODULES)
        _, proc = _run([python, "-c", code], env)
        _checked(proc, "the baseline probe")
        line = next(line for line in proc.stdout.splitlines() if line.startswith("@@REPORT@@"))
        baseline = json.loads(line[len("@@REPORT@@") :])
        baseline_kernels.append(baseline["kernel_s"])
        # the CLI part runs once (the last repeat): it is a module check, not a timing
        code = _PROBE.format(heavy=HEAVY_MODULES, noted=NOTED_MODULES, data_dir=data_dir, cli=i == repeats - 1,
                             baseline=False, backend_modules=BACKEND_MODULES)
        wall, proc = _run([python, "-c", code], env)
        _checked(proc, "the import probe")
        line = next(line for line in proc.stdout.splitlines() if line.startswith("@@REPORT@@"))
        last = json.loads(line[len("@@REPORT@@") :])
        imports.append(last["import_s"])
        kernels.append(last["kernel_s"])
        if i < repeats - 1:
            walls.append(wall)
    return {
        "import": _summary(imports),
        "kernel": _summary(kernels),
        "process_wall": _summary(walls or [wall]),
        "modules": {k: last[k] for k in ("after_import", "after_kernel", "after_cli_help", "after_cli_plugins")},
        "plugins": last["plugins"],
        "plugin_errors": last["plugin_errors"],
        "backend_modules": last["backend_modules"],
        "backend_lines": last["backend_lines"],
        "baseline": {
            "what": "Kernel() with the backend modules registered as plugins (by class)",
            "kernel": _summary(baseline_kernels),
            "backend_modules": baseline["backend_modules"],
            "backend_lines": baseline["backend_lines"],
            "heavy_after_kernel": baseline["after_kernel"]["heavy"],
        },
        "kernel_vs_baseline": statistics.median(kernels) / statistics.median(baseline_kernels),
    }


def measure_command(cmd: list[str], env: dict[str, str], repeats: int) -> dict[str, Any]:
    """Wall time of a whole command, ``repeats`` times."""
    samples = []
    for _ in range(repeats):
        wall, proc = _run(cmd, env)
        _checked(proc, " ".join(cmd))
        samples.append(wall)
    return _summary(samples)


def parse_importtime(stderr: str) -> list[dict[str, Any]]:
    """Rows of ``-X importtime`` output: module, self and cumulative microseconds, nesting depth."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cumulative_us, name = parts
        # the name column is one space, then two spaces per nesting level
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append(
            {"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us), "depth": depth}
        )
    return rows


def _owner(module: str) -> str:
    """The package a module's cost is charged to: its top-level package, skyplex by subpackage."""
    parts = module.split(".")
    if parts[0] == "skyplex" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def measure_importtime(python: str, env: dict[str, str], runs: int = 3, top: int = 15) -> dict[str, Any]:
    """Top offenders of ``import skyplex``: the median run's modules by cumulative and self time."""
    parsed = []
    for _ in range(runs):
        _, proc = _run([python, "-X", "importtime", "-c", "import skyplex"], env)
        _checked(proc, "python -X importtime")
        rows = parse_importtime(proc.stderr)
        total = next((r["cumulative_us"] for r in rows if r["module"] == "skyplex"), sum(r["self_us"] for r in rows))
        parsed.append((total, rows))
    parsed.sort(key=lambda item: item[0])
    total_us, rows = parsed[len(parsed) // 2]
    by_package: dict[str, int] = {}
    for row in rows:
        by_package[_owner(row["module"])] = by_package.get(_owner(row["module"]), 0) + row["self_us"]
    # cumulative is only meaningful for modules skyplex itself pulls in (first import of each)
    # a package imported through its submodule is listed twice (outer stub, inner body): keep the larger
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["module"].startswith("skyplex") or row["depth"] <= 2:
            if row["cumulative_us"] > best.get(row["module"], {}).get("cumulative_us", -1):
                best[row["module"]] = row
    skyplex_children = list(best.values())
    return {
        "skyplex_cumulative_us": total_us,
        "modules_imported": len(rows),
        "by_package_self_us": dict(sorted(by_package.items(), key=lambda kv: -kv[1])[: top + 5]),
        "top_cumulative": sorted(skyplex_children, key=lambda r: -r["cumulative_us"])[:top],
        "top_self": sorted(rows, key=lambda r: -r["self_us"])[:top],
    }


def measure_kernel_imports(python: str, env: dict[str, str], data_dir: str, top: int = 10) -> list[dict[str, Any]]:
    """What creating a Kernel imports beyond ``import skyplex``: mostly plugin modules, by cumulative time."""
    code = f"import skyplex; skyplex.Kernel(settings=skyplex.Settings.load(data_dir={data_dir!r}))"
    _, proc = _run([python, "-X", "importtime", "-c", code], env)
    _checked(proc, "python -X importtime (Kernel)")
    rows = parse_importtime(proc.stderr)
    # top-level (depth 0) imports after skyplex's own are the ones the plugin manager triggered
    after = rows[next(i for i, r in enumerate(rows) if r["module"] == "skyplex" and r["depth"] == 0) + 1 :]
    return sorted((r for r in after if r["depth"] == 0), key=lambda r: -r["cumulative_us"])[:top]


def render(result: dict[str, Any]) -> None:
    """Print the result as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, shutil.get_terminal_size((100, 24)).columns))
    target = result["target_import_s"]
    timing = Table(title=f"skyplex start-up (median of {result['repeats']} fresh processes)", title_justify="left")
    for column in ("what", "median", "min", "max", "note"):
        timing.add_column(column, justify="left" if column in ("what", "note") else "right")

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    rows = [
        ("python -c pass", result["interpreter"], "interpreter floor"),
        ("import skyplex", result["import"], "in-process clock; target < " + ms(target)),
        ("import + Kernel() process", result["process_wall"], "whole process wall"),
        ("Kernel(settings)", result["kernel"], f"after import; {len(result['plugins'])} plugins"),
        ("skyplex --help", result["cli_help"], "console script"),
        ("skyplex plugins", result["cli_plugins"], "console script"),
    ]
    for name, stats, note in rows:
        timing.add_row(name, ms(stats["median_s"]), ms(stats["min_s"]), ms(stats["max_s"]), note)
    console.print(timing)

    base = result["baseline"]
    backends = Table(title="Kernel(): model backend code imported (interleaved with the baseline)",
                     title_justify="left")
    for column in ("registration", "Kernel() median", "ratio", "backend modules", "lines", "heavy"):
        backends.add_column(column, justify="left" if column in ("registration", "backend modules", "heavy") else "right")
    backends.add_row("by reference (skyplex.builtins)", ms(result["kernel"]["median_s"]),
                     f"{result['kernel_vs_baseline']:.2f}x", ", ".join(result["backend_modules"]) or "none",
                     str(result["backend_lines"]), ", ".join(result["modules"]["after_kernel"]["heavy"]) or "none")
    backends.add_row("baseline: backend modules as plugins", ms(base["kernel"]["median_s"]), "1.00x",
                     ", ".join(base["backend_modules"]) or "none", str(base["backend_lines"]),
                     ", ".join(base["heavy_after_kernel"]) or "none")
    console.print(backends)

    modules = Table(title="heavy modules loaded (must be none)", title_justify="left")
    modules.add_column("after")
    modules.add_column("heavy")
    modules.add_column("also loaded (fine)")
    modules.add_column("sys.modules", justify="right")
    for step, seen in result["modules"].items():
        heavy = ", ".join(seen["heavy"]) or "none"
        modules.add_row(step.removeprefix("after_"), f"[red]{heavy}[/]" if seen["heavy"] else f"[green]{heavy}[/]",
                        ", ".join(seen["noted"]), str(seen["modules"]))  # fmt: skip
    console.print(modules)

    imports = result["importtime"]
    packages = Table(title="import skyplex: self time by package (-X importtime, median run)", title_justify="left")
    packages.add_column("package")
    packages.add_column("self", justify="right")
    for package, us in list(imports["by_package_self_us"].items())[:15]:
        packages.add_row(package, f"{us / 1000:.1f} ms")
    console.print(packages)

    offenders = Table(title="top modules by cumulative time (depth <= 2 or skyplex.*)", title_justify="left")
    for column in ("module", "cumulative", "self", "depth"):
        offenders.add_column(column, justify="left" if column == "module" else "right")
    for row in imports["top_cumulative"]:
        offenders.add_row(row["module"], f"{row['cumulative_us'] / 1000:.1f} ms", f"{row['self_us'] / 1000:.1f} ms",
                          str(row["depth"]))  # fmt: skip
    console.print(offenders)

    plugins = Table(title="Kernel(): modules it imports after `import skyplex` (plugins)", title_justify="left")
    plugins.add_column("module")
    plugins.add_column("cumulative", justify="right")
    for row in result["kernel_imports"]:
        plugins.add_row(row["module"], f"{row['cumulative_us'] / 1000:.1f} ms")
    console.print(plugins)
    for problem in result["problems"]:
        console.print(f"[red]✗ {problem}[/]")
    if not result["problems"]:
        console.print("[green]✓ no heavy imports on the light paths; import within target[/]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="fresh processes per measurement (default 10)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON result file (default {DEFAULT_OUT})")
    parser.add_argument("--python", default=sys.executable, help="interpreter with skyplex installed")
    parser.add_argument("--target", type=float, default=0.3, help="import budget in seconds (default 0.3)")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error("--repeats must be at least 2")

    script = Path(args.python).parent / "skyplex"
    skyplex_cmd = [str(script)] if script.exists() else [shutil.which("skyplex") or "skyplex"]
    with tempfile.TemporaryDirectory(prefix="skyplex-bench-") as data_dir:
        env = {**os.environ, "SKYPLEX_DATA_DIR": data_dir, "PYTHONDONTWRITEBYTECODE": "0"}
        env.pop("SKYPLEX_CONFIG", None)
        # one untimed run so .pyc files exist: we measure cold processes, not first-ever compilation
        _checked(_run([args.python, "-c", "import skyplex.cli.main, skyplex.cli.plugins"], env)[1], "warm-up")
        probe = measure_probe(args.python, env, data_dir, args.repeats)
        result: dict[str, Any] = {
            "benchmark": "kernel_import",
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "repeats": args.repeats,
            "target_import_s": args.target,
            "interpreter": measure_command([args.python, "-c", "pass"], env, args.repeats),
            **probe,
            "cli_help": measure_command([*skyplex_cmd, "--help"], env, args.repeats),
            "cli_plugins": measure_command([*skyplex_cmd, "plugins"], env, args.repeats),
            "importtime": measure_importtime(args.python, env),
            "kernel_imports": measure_kernel_imports(args.python, env, data_dir),
        }
    problems = []
    if result["import"]["median_s"] > args.target:
        problems.append(f"import skyplex took {result['import']['median_s']:.3f} s (target {args.target} s)")
    for step, seen in result["modules"].items():
        if seen["heavy"]:
            problems.append(f"{step}: heavy modules imported: {', '.join(seen['heavy'])}")
    if result["backend_modules"]:
        problems.append(f"Kernel() imported model backend code: {', '.join(result['backend_modules'])}")
    result["problems"] = problems
    render(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
