"""``skyplex depyf ...`` as a person types it, including every command and snippet docs/plugins/depyf.md shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from skyplex.testing.docs import code_blocks as doc_blocks
from skyplex.testing.docs import documented_commands, run_cli


def run_skyplex(argv: list[str], data_dir: Path):
    return run_cli(argv, plugins={"depyf"}, data_dir=data_dir)


def doc_commands(text: str) -> list[tuple[list[str], list[str]]]:
    """(argv after `skyplex`, expected output lines) for each `$ skyplex depyf ...` in the docs."""
    return documented_commands(text, "skyplex depyf")


@pytest.fixture
def docs_cwd(tmp_path, docs_text, monkeypatch):
    """A working folder holding the files the docs show (python blocks starting ``# name.py``)."""
    work = tmp_path / "work"
    work.mkdir()
    for block in doc_blocks(docs_text, "python"):
        first = block.splitlines()[0]
        if re.fullmatch(r"# [\w.]+\.py", first):
            (work / first[2:]).write_text(block)
    monkeypatch.chdir(work)
    return work


def test_documented_commands_print_what_the_docs_show(docs_cwd, docs_text, tmp_path):
    pytest.importorskip("torch")
    commands = doc_commands(docs_text)
    assert len(commands) == 4
    for argv, expected in commands:
        result = run_skyplex(argv, tmp_path / "data")
        want_status = 2 if expected and expected[0].startswith("error:") else 0
        assert result.exit_code == want_status, (argv, result.output)
        if want_status:
            assert result.stderr.strip() == expected[0]
        else:
            assert expected[0] in result.stdout.splitlines(), (argv, result.stdout)


def test_documented_python_snippets_run(docs_cwd, docs_text, capsys):
    snippets = [b for b in doc_blocks(docs_text, "python") if "from skyplex_depyf.decompiler" in b]
    assert snippets
    for snippet in snippets:
        exec(compile(snippet, "depyf.md", "exec"), {})
    assert "def scale(xs, k=2):" in capsys.readouterr().out


def test_decompiled_file_function_behaves_the_same(docs_cwd, tmp_path):
    result = run_skyplex(["depyf", "decompile", "example.py", "--function", "clamp_all"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    original: dict = {}
    rebuilt: dict = {}
    exec((docs_cwd / "example.py").read_text(), original)
    exec(result.stdout, rebuilt)
    for values in ([], [1, 5, 20, -3, 0], [12, 3, 3]):
        assert rebuilt["clamp_all"](values) == original["clamp_all"](values)


def test_json_report_and_strict(tmp_path):
    source = tmp_path / "guarded.py"
    source.write_text("def g(x):\n    try:\n        return 1 / x\n    except ZeroDivisionError:\n        return 0\n")
    result = run_skyplex(["depyf", "decompile", str(source), "--function", "g", "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["inspector"] == "depyf"
    if not report["metadata"]["verified"]:
        assert "offset" in report["metadata"]["refusal"]
        strict = run_skyplex(["depyf", "decompile", str(source), "--function", "g", "--strict"], tmp_path / "data")
        assert strict.exit_code == 1


@pytest.mark.parametrize("argv, message", [
    (["depyf", "decompile", "nosuch:thing"], "cannot import 'nosuch'"),
    (["depyf", "decompile", "json"], "is not a 'module:function' reference"),
    (["depyf", "decompile", "json:nothere"], "has no 'nothere'"),
    (["depyf", "decompile", "json:JSONDecodeError"], "not a Python function"),
    (["depyf", "decompile", "missing.py", "--function", "f"], "no such file"),
    (["depyf", "dump", "missing.py", "--out", "d"], "no such script"),
])
def test_bad_input_is_one_line_exit_2(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_file_that_does_not_compile_or_lacks_the_function(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    result = run_skyplex(["depyf", "decompile", str(bad), "--function", "f"], tmp_path / "data")
    assert result.exit_code == 2 and "does not compile" in result.stderr
    bad.write_text("x = 1\n")
    result = run_skyplex(["depyf", "decompile", str(bad), "--function", "f"], tmp_path / "data")
    assert result.exit_code == 2 and "defines no function 'f'" in result.stderr
    bad.write_bytes(b"\xff\xfe\x00def")
    result = run_skyplex(["depyf", "decompile", str(bad), "--function", "f"], tmp_path / "data")
    assert result.exit_code == 2 and "UTF-8" in result.stderr


def _pyc(tmp_path: Path) -> Path:
    import py_compile

    source = tmp_path / "mod.py"
    source.write_text("def f(a, b):\n    return [x + b for x in range(a) if x]\n")
    return Path(py_compile.compile(str(source), cfile=str(tmp_path / "mod.pyc"), doraise=True))


def test_pyc_of_this_python_is_decompiled(tmp_path):
    result = run_skyplex(["depyf", "decompile", str(_pyc(tmp_path)), "--function", "f"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("def f(a, b):") and "[x + b for x in range(a) if x]" in result.stdout


@pytest.mark.parametrize("damage, message", [
    (lambda b: bytes([b[0] ^ 0x11, b[1]]) + b[2:], "compiled by another Python version"),
    (lambda b: b[:16] + b"\x00garbage", "corrupted bytecode"),
    (lambda b: b"not a pyc at all", "not a .pyc file"),
])
def test_foreign_or_corrupt_pyc_is_one_line_exit_2(tmp_path, damage, message):
    pyc = _pyc(tmp_path)
    pyc.write_bytes(damage(pyc.read_bytes()))
    result = run_skyplex(["depyf", "decompile", str(pyc), "--function", "f"], tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
