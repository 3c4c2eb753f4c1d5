"""``with debug(folder):`` (``from skyplex_depyf.debug import debug``) on a real torch.compile run:
per compiled frame the decompiled original and transformed code, the FX graphs and the guards as
Python files that compile, an HTML index linking every file, recompiles as new frames with their own
guards, and inspection faults that are reported in the dump while the program's results stay those of
eager mode.

torch runs in one subprocess (its import and compiles dominate the cost); the tests read what it wrote."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

PROGRAM = r'''
import json, sys
from pathlib import Path
import torch
import torch._dynamo
from skyplex_depyf.debug import debug
import skyplex_depyf.artifacts as artifacts
import skyplex_depyf.dump as dump_module

out = Path(sys.argv[1])


def model(x, w):
    y = torch.relu(x @ w)
    if y.sum() > 0:
        y = y * 2
    return y.mean(dim=0)


torch.manual_seed(0)
inputs = [(torch.randn(4, 3), torch.randn(3, 2)), (torch.randn(6, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64))]
results = {}
(out / "plain").mkdir()
for name in ("007_old_transformed.py", "007_old_graph_3.py", "errors.txt", "notes.txt"):
    (out / "plain" / name).write_text("from an earlier run")
with debug(out / "plain") as dump:
    compiled = torch.compile(model, backend="eager")
    results["plain"] = [torch.equal(compiled(x, w), model(x, w)) for x, w in inputs]
results["plain_errors"] = dump.errors

torch._dynamo.reset()


def broken(*args, **kwargs):
    raise RuntimeError("inspection fault")


artifacts.readable_graph = broken
dump_module.guard_entries = broken
with debug(out / "sabotaged") as dump:
    compiled = torch.compile(model, backend="eager")
    results["sabotaged"] = [torch.equal(compiled(x, w), model(x, w)) for x, w in inputs]
results["sabotaged_errors"] = dump.errors
(out / "results.json").write_text(json.dumps(results))
'''


@pytest.fixture(scope="module")
def dumped(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("debug")
    script = out / "program.py"
    script.write_text(PROGRAM)
    run = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_results_are_those_of_eager_mode_with_and_without_faults(dumped):
    results = _results(dumped)
    assert results["plain"] == [True, True] and results["sabotaged"] == [True, True]
    assert results["plain_errors"] == []


def test_each_frame_has_graph_guards_and_code_and_every_file_compiles(dumped):
    folder = dumped / "plain"
    manifest = json.loads((folder / "manifest.json").read_text())
    frames = manifest["frames"]
    assert [f["function"] for f in frames].count("model") == 2  # the float64 call recompiled the frame
    for frame in frames:
        kinds = {re.search(r"_(original|transformed|guards|graph_\d+)\.py$", name).group(1) for name in frame["files"]}
        assert {"original", "transformed", "guards", "graph_0"} <= kinds, frame
        assert frame["guard_count"] > 0
    first = frames[0]["files"]
    graph = (folder / next(n for n in first if "_graph_0" in n)).read_text()
    assert "class GraphModule" in graph and "torch.relu" in graph
    for path in folder.glob("*.py"):
        compile(path.read_text(), path.name, "exec", dont_inherit=True)


def test_guards_name_the_inputs_and_differ_after_a_recompile(dumped):
    folder = dumped / "plain"
    namespaces = []
    for path in sorted(folder.glob("*model_guards.py")):
        namespace: dict = {}
        exec(compile(path.read_text(), path.name, "exec", dont_inherit=True), namespace)
        namespaces.append(namespace["GUARDS"])
    assert len(namespaces) == 2
    first, second = ("\n".join(g) for g in namespaces)
    assert "L['x']" in first and "size=[4, 3]" in first
    assert "torch.float64" in second and "torch.float64" not in first  # the guard that failed was dtype
    assert not re.search(r"\d{9,}", first + second)  # object ids masked: dumps compare across runs


def test_a_new_dump_replaces_only_the_files_a_dump_writes(dumped):
    names = {p.name for p in (dumped / "plain").iterdir()}
    assert "notes.txt" in names  # not ours: kept
    assert not {"007_old_transformed.py", "007_old_graph_3.py", "errors.txt"} & names


def test_index_links_every_file_once(dumped):
    folder = dumped / "plain"
    page = (folder / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', page)
    assert sorted(links) == sorted([p.name for p in folder.glob("*.py")] + ["cost.json", "cost.txt"])
    assert page.count("<tr><td>") == len(json.loads((folder / "manifest.json").read_text())["frames"])


def test_inspection_faults_are_reported_in_the_dump(dumped):
    folder = dumped / "sabotaged"
    errors = _results(dumped)["sabotaged_errors"]
    assert any("FX graph not read" in e for e in errors) and any("guards not read" in e for e in errors)
    assert "inspection fault" in (folder / "errors.txt").read_text()
    assert "inspection fault" in (folder / "index.html").read_text()
    assert list(folder.glob("*_transformed.py")) and not list(folder.glob("*_guards.py"))


def test_index_escapes_names():
    from skyplex_depyf.artifacts import write_index
    from skyplex_depyf.dump import FrameRecord

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        frame = FrameRecord(0, "<lambda>", "/x/<prog>.py", 1, "<lambda>", files=["000_lambda_original.py"])
        page = write_index(Path(tmp), [frame], ["<script>alert(1)</script>"]).read_text()
    assert "&lt;lambda&gt;" in page and "<script>alert" not in page and "&lt;prog&gt;.py" in page


def test_documented_debug_example_runs_as_written(docs_text, tmp_path):
    from skyplex.testing.docs import code_blocks

    block = next(b for b in code_blocks(docs_text, "python") if b.startswith("# debug_example.py"))
    (tmp_path / "debug_example.py").write_text(block)
    run = subprocess.run([sys.executable, "debug_example.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("1 frame(s): [") and "000_model_graph_0.py" in run.stdout
    folder = tmp_path / "debug_dump"
    assert {"index.html", "000_model_guards.py", "000_model_transformed.py"} <= {p.name for p in folder.iterdir()}
