"""Inductor's generated code next to the decompiled frames, and the compile cost report: recompiles
with the guard that failed, graph breaks with their reasons, time per frame compile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

INDUCTOR_SCRIPT = """
import torch


def scale(x):
    return torch.relu(x) * 2 + 1


compiled = torch.compile(scale)  # the default backend: Inductor, C++ kernels on CPU
print(compiled(torch.ones(4)).tolist())
print(compiled(torch.ones(4, dtype=torch.float64)).tolist())  # a dtype guard fails: recompiles
"""

BREAK_SCRIPT = """
import torch


def model(x):
    y = x * 2
    print("side effect")  # Dynamo cannot put print in a graph: a graph break
    return y + 1


compiled = torch.compile(model, backend="eager")
print(compiled(torch.ones(3)).tolist())
"""


def _run(script: Path, out: Path) -> subprocess.CompletedProcess:
    code = ("from pathlib import Path\nfrom skyplex_depyf.dump import dump_script\n"
            f"d = dump_script(Path({str(script)!r}), Path({str(out)!r}))\nprint('ERR', d.script_error)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


def test_inductor_code_is_dumped_and_recompile_reason_reported(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(INDUCTOR_SCRIPT)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    run = _run(script, tmp_path / "d")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[:2] == plain.stdout.splitlines()[:2]  # the program's results unchanged
    folder = tmp_path / "d"
    kernels = sorted(folder.glob("*_inductor_*.py"))
    assert [k.name for k in kernels] == ["000_scale_inductor_0.py", "001_scale_inductor_0.py"]
    for path in kernels:
        text = path.read_text()
        compile(text, path.name, "exec", dont_inherit=True)  # a dumped module is valid Python
        assert "def call(" in text and "relu" in text.lower()
        assert "torchinductor_" not in text  # cache paths masked: the same program dumps the same
    assert "double" in kernels[1].read_text()  # the float64 recompile got its own kernel
    cost = json.loads((folder / "cost.json").read_text())
    assert cost["totals"]["frame_compiles"] == 2 and cost["totals"]["recompiles"] == 1
    reason = cost["frames"][1]["recompile_reason"]
    assert "dtype" in reason and "x" in reason
    assert all(f["entire_frame_compile_time_s"] > 0 and f["guard_count"] > 0 for f in cost["frames"])
    assert "1 recompile(s)" in (folder / "cost.txt").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["frames"][0]["kernels"] == ["000_scale_inductor_0.py"] and manifest["errors"] == []
    assert 'href="000_scale_inductor_0.py"' in (folder / "index.html").read_text()


def test_graph_breaks_are_counted_with_their_reason(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(BREAK_SCRIPT)
    run = _run(script, tmp_path / "d")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "side effect" in run.stdout
    cost = json.loads((tmp_path / "d" / "cost.json").read_text())
    assert cost["totals"]["graph_breaks"] >= 1
    assert any("print" in reason for reason in cost["graph_breaks"]), cost["graph_breaks"]
    assert "graph breaks (count, reason):" in (tmp_path / "d" / "cost.txt").read_text()
    assert not list((tmp_path / "d").glob("*_inductor_*.py"))  # the eager backend generates no code


def test_a_user_enabled_output_code_log_keeps_its_settings():
    import logging

    from skyplex_depyf.kernels import OUTPUT_CODE_LOGGERS, KernelRecorder

    logger = logging.getLogger(OUTPUT_CODE_LOGGERS[0])
    before = (logger.level, logger.propagate, list(logger.handlers))
    recorder = KernelRecorder([])
    recorder.install()
    assert recorder in logger.handlers
    recorder.remove()
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_documented_inductor_example_prints_what_the_docs_show(docs_text, tmp_path):
    from skyplex.testing.docs import code_blocks

    block = next(b for b in code_blocks(docs_text, "python") if b.startswith("# inductor_example.py"))
    (tmp_path / "inductor_example.py").write_text(block)
    run = subprocess.run([sys.executable, "inductor_example.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "[['000_scale_inductor_0.py'], ['001_scale_inductor_0.py']]"
    assert lines[1] == "1 recompile: 0/0: tensor 'x' dtype mismatch. expected Float, actual Double"
    assert docs_text.count(lines[0]) == 1 and lines[1] in docs_text.replace("`\n`", " ")
