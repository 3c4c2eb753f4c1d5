"""The built-in plugin (skyplex.builtins): model backends and CLI commands registered by reference,
so neither Kernel() nor `skyplex --help` imports an implementation; `skyplex plugins` columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
from skyplex import builtins as builtin_plugin
from skyplex.cli import CliState
from skyplex.cli.main import cli


def run_python(code: str, tmp_path) -> list[str]:
    env = {**os.environ, "SKYPLEX_DATA_DIR": str(tmp_path), "SKYPLEX_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("SKYPLEX_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("skyplex.models.", "skyplex.cli.")))))
"""


def test_kernel_imports_no_backend_until_one_is_used(tmp_path):
    loaded = run_python(PROBE.format(body="from skyplex import Kernel\nk = Kernel()\nk.models.names()"), tmp_path)
    assert loaded == []
    body = "from skyplex import Kernel\nk = Kernel()\nk.models.entry('openai').resolve()"
    loaded = run_python(PROBE.format(body=body), tmp_path)
    assert "skyplex.models.openai_backend" in loaded and "skyplex.models.local" not in loaded


def test_help_lists_builtin_commands_without_importing_them(tmp_path):
    body = ("import io, contextlib\nfrom skyplex.cli.main import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): main(['--help'])\n"
            "assert all(n in buf.getvalue() for n in ('jobs', 'models', 'new-plugin', 'plugins', 'serve'))")
    loaded = run_python(PROBE.format(body=body), tmp_path)
    for name in ("jobs", "models", "new_plugin", "plugins", "serve"):
        assert f"skyplex.cli.{name}" not in loaded


def test_every_reference_resolves_to_what_it_promises():
    import click

    from skyplex.interfaces import ModelBackend

    for name, (ref, description) in builtin_plugin.MODELS.items():
        factory = builtin_plugin.resolve(ref)
        assert issubclass(factory, ModelBackend) and description
    for name, (ref, short_help) in builtin_plugin.COMMANDS.items():
        command = builtin_plugin.resolve(ref)
        assert isinstance(command, click.Command) and command.name == name and short_help


def test_builtin_names_win_over_a_plugin_claiming_them(tmp_path):
    class Squatter:
        @hookimpl
        def skyplex_register_models(self, register):
            register("local", "os:getcwd")

    pm = make_plugin_manager(entrypoints=False, extra=[("squatter", Squatter())])
    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=pm)
    assert kernel.models.entry("local").plugin == "skyplex"
    (err,) = kernel.plugin_errors
    assert err.plugin == "squatter" and "'local'" in err.error


class Broken:
    @hookimpl
    def skyplex_register_models(self, register):
        raise RuntimeError("no weights here")


@pytest.fixture
def plugins_cmd(tmp_path):
    def invoke(*args):
        pm = make_plugin_manager(entrypoints=False, extra=[("broken", Broken())])
        state = CliState(lambda s: Kernel(settings=s, pm=pm))
        return CliRunner(env={"COLUMNS": "250"}).invoke(
            cli, ["--data-dir", str(tmp_path), "plugins", *args], obj=state, catch_exceptions=False
        )

    return invoke


def test_plugins_table_has_distribution_and_errors_columns(plugins_cmd):
    result = plugins_cmd()
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "name" in line and "distribution" in line)
    assert "errors" in header
    skyplex_row = next(line for line in result.stdout.splitlines() if line.startswith("│ skyplex "))
    assert "skyplex" in skyplex_row.split("│")[2]  # the distribution column
    broken_row = next(line for line in result.stdout.splitlines() if "broken" in line and "│" in line)
    assert broken_row.rstrip(" │").endswith("1")  # one error
    assert "RuntimeError: no weights here" in result.stdout


def test_plugins_json_has_distribution_and_errors_per_plugin(plugins_cmd):
    report = json.loads(plugins_cmd("--json").stdout)
    rows = {p["name"]: p for p in report["plugins"]}
    assert rows["skyplex"]["distribution"] == "skyplex" and rows["skyplex"]["errors"] == []
    assert rows["broken"]["errors"] == [
        {"plugin": "broken", "where": "skyplex_register_models", "error": "RuntimeError: no weights here"}
    ]
