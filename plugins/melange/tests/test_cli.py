"""``skyplex melange ...``: PNG output, the click commands, and the commands the docs show, as typed."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

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


# --------------------------------------------------------------------------------------------------
# docs/plugins/melange.md: the `skyplex melange ...` commands as typed, through the real `skyplex` group

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "melange.md"


def doc_commands(prefix: str) -> list[tuple[list[str], list[str]]]:
    """(argv after `skyplex`, expected output lines) for each `$ skyplex melange <prefix>` in the docs."""
    out = []
    for block in re.findall(r"^```console\n(.*?)^```", DOCS.read_text(), re.M | re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(f"$ skyplex melange {prefix}"):
                expected = []
                for following in lines[i + 1:]:
                    if following.startswith("$ "):
                        break
                    expected.append(following)
                out.append((shlex.split(line[2:])[1:], expected))
    return out


@pytest.fixture
def docs_cwd(tmp_path, example_data, monkeypatch):
    """A working folder where the docs' ``../shared/data/melange/example.json`` exists (the paper's
    example, from the test fixtures): the commands run exactly as written, reading nothing outside."""
    shared = tmp_path / "shared" / "data" / "melange"
    shared.mkdir(parents=True)
    (shared / "example.json").write_text(json.dumps(example_data))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def run_skyplex(argv: list[str], data_dir: Path):
    from skyplex import Kernel, make_plugin_manager
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"melange"})
    state = CliState(lambda s: Kernel(settings=s, pm=pm))
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *argv], obj=state)


def test_documented_allocate_commands_print_what_the_docs_show(docs_cwd, tmp_path):
    commands = doc_commands("allocate")
    assert len(commands) == 2
    for argv, expected in commands:
        result = run_skyplex(argv, tmp_path / "data")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == expected[0]


def test_documented_plot_command_writes_the_png(docs_cwd, tmp_path):
    ((argv, expected),) = doc_commands("plot")
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == expected[0]
    out = docs_cwd / argv[argv.index("--out") + 1]
    assert out.read_bytes()[:8] == PNG


def test_plot_json_labels_paper_buckets_as_indices(docs_cwd, tmp_path):
    ((argv, _),) = doc_commands("plot")
    result = run_skyplex([*argv, "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    heat = json.loads(result.stdout)["heatmap"]
    assert heat["length_units"] == "bucket index"
    from skyplex_melange.plot import axis_labels

    assert axis_labels(heat) == ("output length bucket (index)", "input length bucket (index)")
    assert axis_labels({"length_units": "tokens"}) == ("output tokens", "input tokens")


def test_heatmap_png_axes_say_what_the_lengths_are(example_problem, tmp_path, monkeypatch):
    """The PNG's axis labels, read back from the figure matplotlib drew."""
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(plt, "close", lambda fig: drawn.append(fig))
    problem = example_problem.model_copy(update={"options": {**example_problem.options, "plot": True, "plot_points": 3}})
    render_png(MelangeAllocator().allocate(problem).details["plot"], tmp_path / "p.png")
    heat_axes = drawn[0].axes[1]
    assert heat_axes.get_xlabel() == "output length bucket (index)"
    assert heat_axes.get_ylabel() == "input length bucket (index)"


@pytest.mark.parametrize("content, needle", [
    (b"not gzip", "is not a valid gzip file"),
    (None, "truncated"),
])
def test_corrupt_gzip_trace_is_one_line_exit_2(tmp_path, content, needle):
    import gzip as gz

    trace = tmp_path / "trace.csv.gz"
    if content is None:
        whole = gz.compress(b"input_tokens,output_tokens\n" + b"100,50\n" * 4000)
        content = whole[: len(whole) // 2]
    trace.write_bytes(content)
    result = run_skyplex(["melange", "allocate", "--trace", str(trace), "--rate", "2", "--model", "llama-2-7b"],
                         tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "interrupted" not in lines[0], result.stderr
    assert needle in lines[0] and str(trace) in lines[0]


def test_gzipped_trace_is_read(tmp_path):
    import gzip as gz

    trace = tmp_path / "trace.csv.gz"
    trace.write_bytes(gz.compress(b"input_tokens,output_tokens\n" + b"200,100\n" * 30 + b"3000,300\n" * 10))
    result = run_skyplex(["melange", "allocate", "--trace", str(trace), "--rate", "4", "--model", "llama-2-7b",
                          "--gpus", "L4,A10G,A100-80GB", "--tpot-ms", "120", "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["feasible"] is True
