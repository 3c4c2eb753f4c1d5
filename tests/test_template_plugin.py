"""The plugin template: it renders, installs with only the kernel, passes its own tests, and loads.

The end-to-end tests install the rendered plugin with pip into a private folder (``--target``) and
run everything else in subprocesses with that folder on PYTHONPATH, so this test session's own
interpreter never sees the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skyplex import InvalidInputError
from skyplex.scaffold import kernel_requirement, plugin_kinds, render_plugin, substitute, validate_name

NAME = "tmplcheck"


def plugin_env(site: Path, data_dir: Path) -> dict[str, str]:
    """The environment of a fresh process that sees the plugin installed in ``site`` and nothing else new."""
    env = {k: v for k, v in os.environ.items() if k not in {"SKYPLEX_PLUGINS", "SKYPLEX_DISABLE_PLUGIN_AUTOLOAD"}}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["SKYPLEX_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(rendered source, site folder it is installed in, a scratch data dir), shared by the module."""
    root = tmp_path_factory.mktemp("template")
    source = render_plugin(NAME, root / f"skyplex-{NAME}")
    site = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
           "--disable-pip-version-check", "--target", str(site), str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip install of the rendered plugin failed:\n{result.stdout}\n{result.stderr}"
    return source, site, root / "data"


def test_rendered_layout(installed):
    source, _, _ = installed
    package = source / "src" / f"skyplex_{NAME}"
    # the plugin shape every plugin has (docs/architecture.md)
    for rel in ["pyproject.toml", "README.md", "tests/conftest.py", "tests/test_conformance.py", "tests/test_cli.py",
                "tests/test_routes.py", "tests/test_evaluator.py"]:
        assert (source / rel).is_file(), rel
    for module in ("__init__.py", "plugin.py", "cli.py", "routes.py", "evaluator.py"):
        assert (package / module).is_file(), module
    assert not list(source.rglob("*.tmpl")), "template suffixes must be dropped"
    for path in source.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".toml", ".md"}:
            assert "{{" not in path.read_text(), f"unrendered placeholder in {path}"
    pyproject = (source / "pyproject.toml").read_text()
    assert f'name = "skyplex-{NAME}"' in pyproject
    assert f'{NAME} = "skyplex_{NAME}.plugin"' in pyproject
    assert '"skyplex>=' in pyproject  # depends on the kernel only, minor version pinned


def test_rendered_plugin_passes_its_own_tests(installed):
    source, site, data_dir = installed
    cmd = [sys.executable, "-m", "pytest", str(source / "tests"), "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        cmd, capture_output=True, text=True, cwd=source, env=plugin_env(site, data_dir), timeout=300
    )
    assert result.returncode == 0, f"the rendered plugin's tests failed:\n{result.stdout}\n{result.stderr}"
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_kernel_lists_the_installed_plugin(installed):
    _, site, data_dir = installed
    code = (
        "import json, skyplex\n"
        "kernel = skyplex.Kernel()\n"
        "print(json.dumps({'plugins': kernel.plugins(), 'errors': [e.to_dict() for e in kernel.plugin_errors]}))\n"
        "kernel.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=plugin_env(site, data_dir), timeout=120
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout.strip().splitlines()[-1])
    ours = [p for p in listing["plugins"] if p["name"] == NAME]
    assert ours, f"plugin {NAME!r} not listed; load errors: {listing['errors']}"
    assert ours[0]["distribution"] == f"skyplex-{NAME}"
    assert ours[0]["builtin"] is False
    assert ours[0]["provides"] == {"evaluator": [NAME]}
    assert not ours[0]["errors"]


# ---- render_plugin's own rules ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "MyEval", "1eval", "my-eval", "my eval", "a" * 41, "eval_", "class", "local", "skyplex", "jobs", "new_plugin"])
def test_bad_names_are_refused(bad, tmp_path):
    with pytest.raises(InvalidInputError, match="plugin name"):
        render_plugin(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_good_names_are_accepted():
    for good in ["myeval", "arena2", "live_code"]:
        assert validate_name(good) == good


def test_refuses_a_non_empty_destination(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        render_plugin("myeval", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_renders_into_an_existing_empty_folder(tmp_path):
    out = render_plugin("myeval", tmp_path)
    assert out == tmp_path and (tmp_path / "src" / "skyplex_myeval" / "plugin.py").is_file()


def test_unknown_kind_lists_the_known_ones(tmp_path):
    assert "evaluator" in plugin_kinds()
    with pytest.raises(InvalidInputError, match="templates exist for: .*evaluator"):
        render_plugin("myeval", tmp_path / "out", kind="teleporter")


def test_substitution_is_literal_and_strict():
    assert substitute("a {{name}} b {{ name }}", {"name": "x"}) == "a x b x"
    assert substitute("{{name}}", {"name": "{{other}}"}) == "{{other}}"  # values are not re-expanded
    assert substitute("{name} {{{{", {"name": "x"}) == "{name} {{{{"  # only {{key}} is special
    with pytest.raises(KeyError, match="unknown placeholder"):
        substitute("{{nope}}", {"name": "x"}, where="f.tmpl")


def test_kernel_requirement_pins_the_minor_version():
    assert kernel_requirement("0.1.0") == "skyplex>=0.1,<0.2"
    assert kernel_requirement("2.13.4.dev1") == "skyplex>=2.13,<2.14"
    assert kernel_requirement("unknown") == "skyplex"


def test_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "skyplex.scaffold", "myeval", str(tmp_path / "p")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p" / "pyproject.toml").is_file()
    again = subprocess.run(
        [sys.executable, "-m", "skyplex.scaffold", "myeval", str(tmp_path / "p")], capture_output=True, text=True
    )
    assert again.returncode == 2 and "not an empty folder" in again.stderr
