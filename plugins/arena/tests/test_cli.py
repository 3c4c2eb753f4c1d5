"""`skyplex arena ...` through the real `skyplex` group: every command in docs/plugins/arena.md run as
written, ``--json`` on the commands that print results, and the commands on stored votes.

The commands run in a scratch folder holding ``votes.jsonl``: the committed 2,000 real votes, each
given one of 40 voter names (the release has no voter ids). The one command on the full release
(``../shared``, outside the repository) runs on the committed sample instead.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex

import pytest
from click.testing import CliRunner
from skyplex.testing.docs import plugin_doc

DOC = plugin_doc("arena", __file__)
FULL_RELEASE = "../shared/data/arena/arena_human_preference_140k_battles.jsonl.gz"


def _documented_commands() -> list[str]:
    lines = re.findall(r"^\$ (skyplex arena .+)$", DOC.read_text(), flags=re.M)
    return [line.split("  #")[0].strip() for line in lines]


def test_the_docs_show_every_arena_command():
    names = {shlex.split(c)[2] for c in _documented_commands()}
    assert names == {"leaderboard", "categories", "import", "voters", "votes"}


@pytest.fixture
def folder(tmp_path, monkeypatch, sample_path):
    from skyplex_arena.battles import read_records

    records = read_records(sample_path)
    with (tmp_path / "votes.jsonl").open("w") as fh:
        for k, rec in enumerate(records):
            fh.write(json.dumps({**rec, "voter": f"voter-{k % 40}"}) + "\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", _documented_commands())
def test_documented_command_runs_as_written(arena_kernel, folder, sample_path, command):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    args = shlex.split(command.replace(FULL_RELEASE, str(sample_path)))
    redirect = None
    if ">" in args:
        redirect = folder / args[args.index(">") + 1]
        args = args[:args.index(">")]
    state = lambda: CliState(kernel_factory=lambda settings: arena_kernel)  # noqa: E731
    on_stored = args[2] == "votes" or (args[2] != "import"
                                       and not any(a.endswith((".jsonl", ".jsonl.gz")) for a in args[3:]))
    if on_stored:
        # commands on the stored votes: store them first, as the docs' import line does
        assert CliRunner().invoke(cli, ["arena", "import", "votes.jsonl"], obj=state()).exit_code == 0
    res = CliRunner().invoke(cli, args[1:], obj=state())
    assert res.exit_code == 0, (command, res.output)
    if redirect is not None:
        redirect.write_text(res.stdout)
        assert redirect.read_text().startswith("rank,model,rating")
    if "--plot" in args:
        assert (folder / "ratings.png").read_bytes()[:4] == b"\x89PNG"
        assert (folder / "winrate.png").read_bytes()[:4] == b"\x89PNG"
    if "--out" in args:
        assert len((folder / "all-votes.jsonl").read_text().splitlines()) == 2000


def _records(n=30):
    out = []
    for k in range(n):
        a, b = ("m1", "m2") if k % 3 else ("m2", "m3")
        out.append({"id": f"r{k}", "model_a": a, "model_b": b, "winner": ["model_a", "model_b", "tie"][k % 3],
                    "voter": f"v{k % 4}"})
    return out


def test_cli_leaderboard_import_and_voters(arena_kernel, sample_path, tmp_path):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    state = lambda: CliState(kernel_factory=lambda s: arena_kernel)  # noqa: E731
    runner = CliRunner()
    res = runner.invoke(cli, ["arena", "leaderboard", str(sample_path), "--format", "csv"], obj=state())
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("rank,model,rating") and len(lines) == 53
    plot, heat = tmp_path / "r.png", tmp_path / "h.png"
    res = runner.invoke(cli, ["arena", "leaderboard", str(sample_path), "--ci", "bootstrap", "--rounds", "10",
                              "--category", "math", "--format", "json", "--plot", str(plot), "--heatmap", str(heat)],
                        obj=state())
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout)
    assert board["ci"] == "bootstrap" and board["category"] == "math"
    assert plot.read_bytes()[:4] == b"\x89PNG" and heat.read_bytes()[:4] == b"\x89PNG"

    votes = tmp_path / "votes.jsonl"
    votes.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    res = runner.invoke(cli, ["arena", "import", str(votes)], obj=state())
    assert res.exit_code == 0 and "imported 30" in res.output, res.output
    res = runner.invoke(cli, ["arena", "leaderboard"], obj=state())
    assert res.exit_code == 0 and "m1" in res.output, res.output
    res = runner.invoke(cli, ["arena", "voters", "--all"], obj=state())
    assert res.exit_code == 0 and "v0" in res.output, res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"model_a": "a", "model_b": "b", "winner": "draw"}) + "\n")
    res = runner.invoke(cli, ["arena", "leaderboard", str(bad)], obj=state())
    assert res.exit_code != 0 and "unknown winner label 'draw'" in res.output


@pytest.mark.parametrize("command", ["leaderboard", "categories", "voters"])
def test_json_is_the_same_here_or_on_the_root_group(arena_kernel, folder, command):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    runner = CliRunner()
    extra = ["--all"] if command == "voters" else []
    here = runner.invoke(cli, ["arena", command, "votes.jsonl", *extra, "--json"],
                         obj=CliState(kernel_factory=lambda s: arena_kernel))
    root = runner.invoke(cli, ["--json", "arena", command, "votes.jsonl", *extra],
                         obj=CliState(kernel_factory=lambda s: arena_kernel))
    assert here.exit_code == 0 and root.exit_code == 0, here.output + root.output
    assert _without_timing(json.loads(here.stdout)) == _without_timing(json.loads(root.stdout))
    if command == "leaderboard":
        as_format = runner.invoke(cli, ["arena", command, "votes.jsonl", "--format", "json"],
                                  obj=CliState(kernel_factory=lambda s: arena_kernel))
        assert _without_timing(json.loads(as_format.stdout)) == _without_timing(json.loads(here.stdout))
        assert json.loads(here.stdout)["rows"][0]["rank"] == 1


def _without_timing(data):
    # a leaderboard reports how long it took; everything else must match
    if isinstance(data, dict):
        return {k: _without_timing(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [_without_timing(v) for v in data]
    return data


GOOD = [{"id": f"g{k}", "model_a": "m1", "model_b": "m2", "winner": ["model_a", "model_b", "tie"][k % 3]}
        for k in range(6)]
UNEXPECTED = re.compile(r"unexpected \w+(Error|Exception)|Traceback")


# --- bad input through the CLI: one line naming the problem, exit 2, never a traceback ---------------
@pytest.fixture
def arena_cli(arena_kernel):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli as root

    def run(*args):
        return CliRunner().invoke(root, ["arena", *map(str, args)],
                                  obj=CliState(kernel_factory=lambda settings: arena_kernel))

    return run


@pytest.fixture
def files(tmp_path):
    out = {}
    out["good"] = tmp_path / "good.jsonl"
    out["good"].write_text("".join(json.dumps(r) + "\n" for r in GOOD))
    out["empty"] = tmp_path / "empty.jsonl"
    out["empty"].write_text("")
    out["notjson"] = tmp_path / "bad.jsonl"
    out["notjson"].write_text('{"model_a": "m1"\n')
    out["corrupt_gz"] = tmp_path / "votes.jsonl.gz"
    out["corrupt_gz"].write_bytes(gzip.compress(out["good"].read_bytes())[:-12])
    out["binary"] = tmp_path / "votes.bin"
    out["binary"].write_bytes(bytes(range(256)) * 4)
    out["folder"] = tmp_path / "folder"
    out["folder"].mkdir()
    out["missing"] = tmp_path / "missing.jsonl"
    return out


BAD_ARGS = [
    (["leaderboard", "{missing}"], "missing.jsonl"),
    (["leaderboard", "{empty}"], "empty"),
    (["leaderboard", "{notjson}"], "not valid JSON"),
    (["leaderboard", "{corrupt_gz}"], "votes.jsonl.gz"),
    (["leaderboard", "{binary}"], "votes.bin"),
    (["leaderboard", "{folder}"], "folder"),
    (["leaderboard", "{good}", "--rounds", "1", "--ci", "bootstrap"], "rounds"),
    (["leaderboard", "{good}", "--level", "2"], "level"),
    (["leaderboard", "{good}", "--level", "0"], "level"),
    (["leaderboard", "{good}", "--category", "poetry"], "poetry"),
    (["leaderboard", "{good}", "--style-control"], "style"),
    (["leaderboard", "{good}", "--plot", "{folder}"], "folder"),
    (["leaderboard", "{good}", "--heatmap", "/proc/nope/heat.png"], "heat.png"),
    (["leaderboard"], "no votes"),
    (["categories", "{corrupt_gz}"], "votes.jsonl.gz"),
    (["import", "{missing}"], "missing.jsonl"),
    (["import", "{notjson}"], "not valid JSON"),
    (["import", "{corrupt_gz}"], "votes.jsonl.gz"),
    (["votes", "--limit", "0"], "limit"),
    (["votes", "--out", "{folder}"], "folder"),
    (["voters", "{good}"], "voter"),
    (["voters", "{good}", "--alpha", "5"], "alpha"),
]


@pytest.mark.parametrize("args, says", BAD_ARGS, ids=[" ".join(a[0]) + " " + a[1] for a in BAD_ARGS])
def test_cli_bad_input_is_one_line_and_exit_2(arena_cli, files, args, says):
    res = arena_cli(*(a.format(**files) for a in args))
    lines = [line for line in res.stderr.splitlines() if line.strip() and not line.startswith("WARNING ")]
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert len(lines) == 1 and not UNEXPECTED.search(res.output), res.output
    assert says.lower() in lines[0].lower(), lines[0]
