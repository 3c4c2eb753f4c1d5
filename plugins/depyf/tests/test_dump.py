"""Dumping what torch.compile did: files per compiled frame, valid Python, deterministic, and an
inspection that cannot change the program."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = """
import torch


def model(x, w):
    y = torch.relu(x @ w)
    if y.sum() > 0:
        y = y * 2
    return y.mean(dim=0)


compiled = torch.compile(model, backend="eager")
torch.manual_seed(0)
print(compiled(torch.randn(4, 3), torch.randn(3, 2)).tolist())
"""


def _dump_in_subprocess(script: Path, out: Path, extra: str = "") -> subprocess.CompletedProcess:
    code = (f"{extra}\nfrom pathlib import Path\nfrom skyplex_depyf.dump import dump_script\n"
            f"d = dump_script(Path({str(script)!r}), Path({str(out)!r}))\nprint('ERR', d.script_error)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def _folder(path: Path) -> dict[str, str]:
    """The dump's files; the cost report holds measured times, so only its frame list is compared."""
    files = {p.name: p.read_text() for p in sorted(path.iterdir())}
    cost = json.loads(files.pop("cost.json"))
    files.pop("cost.txt")
    files["cost frames"] = json.dumps([(f["compile_id"], f["co_name"], f["guard_count"]) for f in cost["frames"]])
    return files


def test_dump_is_deterministic_valid_python_and_keeps_results(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    first = _dump_in_subprocess(script, tmp_path / "a")
    second = _dump_in_subprocess(script, tmp_path / "b")
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:]
    assert first.stdout.splitlines()[0] == plain.stdout.splitlines()[0]  # the program's own output
    a, b = _folder(tmp_path / "a"), _folder(tmp_path / "b")
    assert a == b, "two dumps of the same program differ"
    manifest = json.loads(a["manifest.json"])
    assert [f["function"] for f in manifest["frames"]][0] == "model" and manifest["errors"] == []
    assert "000_model_transformed.py" in a and "000_model_original.py" in a
    for name, text in a.items():
        if name.endswith(".py"):
            compile(text, name, "exec", dont_inherit=True)


def test_failing_inspection_does_not_change_the_program(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    sabotage = ("import skyplex_depyf.dump as m\n"
                "def broken(*a, **k):\n    raise RuntimeError('inspection fault')\n"
                "m.decompile = broken\n")
    run = _dump_in_subprocess(script, tmp_path / "d", extra=sabotage)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[0] == plain.stdout.splitlines()[0]
    assert "inspection fault" in (tmp_path / "d" / "errors.txt").read_text()
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["errors"]


def test_script_that_raises_keeps_the_partial_dump(tmp_path):
    script = tmp_path / "raises.py"
    script.write_text("import torch\nf = torch.compile(lambda x: x + 1, backend='eager')\n"
                      "f(torch.ones(2))\nraise ValueError('late failure')\n")
    run = _dump_in_subprocess(script, tmp_path / "d")
    assert run.returncode == 0 and "ERR ValueError: late failure" in run.stdout
    assert (tmp_path / "d" / "000_lambda_transformed.py").is_file()
