"""Every `skyplex arena ...` command in docs/plugins/arena.md, run as written.

The commands run in a scratch folder holding ``votes.jsonl``: the committed 2,000 real votes, each
given one of 40 voter names (the release has no voter ids). The one command on the full release
(``../shared``, outside the repository) runs on the committed sample instead.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "arena.md"
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
    from skyplex.cli.context import CliState
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
