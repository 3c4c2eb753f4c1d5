"""PNG output and the click commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from skyplex_melange.allocator import MelangeAllocator
from skyplex_melange.cli import melange
from skyplex_melange.plot import render_png

PNG = b"\x89PNG\r\n\x1a\n"


def test_png_is_written(example_problem, tmp_path):
    problem = example_problem.model_copy(update={"options": {**example_problem.options, "plot": True, "plot_points": 3}})
    alloc = MelangeAllocator().allocate(problem)
    out = render_png(alloc.details["plot"], tmp_path / "p.png")
    assert out.read_bytes()[:8] == PNG


@pytest.fixture
def example_file(tmp_path, example_data):
    path = tmp_path / "example.json"
    path.write_text(json.dumps(example_data))
    return path


def test_cli_allocate_json(example_file):
    res = CliRunner().invoke(melange, ["allocate", str(example_file), "-S", "2", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["cost_per_hour"] == pytest.approx(5.69) and data["gpus"] == {"A10G": 2, "A100-80GB": 1}


def test_cli_allocate_table_cap_and_plot(example_file, tmp_path):
    png = tmp_path / "a.png"
    res = CliRunner().invoke(melange, ["allocate", str(example_file), "-S", "2", "--cap", "A100-80GB=0",
                                       "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "12 A10G" in res.output and png.read_bytes()[:8] == PNG


def test_cli_plot_and_trace(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("input_tokens,output_tokens\n" + "\n".join(["200,100"] * 3 + ["3000,300"]))
    png = tmp_path / "p.png"
    res = CliRunner().invoke(melange, ["plot", "--trace", str(trace), "--rate", "4", "--model", "llama-2-7b",
                                       "--gpus", "L4,A10G,A100-80GB", "--tpot-ms", "120", "--points", "3",
                                       "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == PNG


def test_cli_bad_cap_and_missing_input(example_file):
    res = CliRunner().invoke(melange, ["allocate", str(example_file), "--cap", "H100"])
    assert res.exit_code != 0 and "GPU=N" in res.output
    res = CliRunner().invoke(melange, ["allocate"])
    assert res.exit_code != 0 and "PROBLEM_FILE" in res.output


def test_through_the_skyplex_cli(example_file, tmp_path):
    from skyplex.cli.context import CliState
    from skyplex.cli.main import cli
    from skyplex.config import Settings
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    def kernel_factory(settings: Settings) -> Kernel:
        pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"melange"})
        return Kernel(settings=settings, pm=pm)

    res = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "--json", "melange", "allocate",
                                   str(example_file), "-S", "2"], obj=CliState(kernel_factory=kernel_factory))
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["cost_per_hour"] == pytest.approx(5.69)
