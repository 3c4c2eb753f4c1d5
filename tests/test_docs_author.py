"""The author docs say what the code does: the scaffold command and its next steps are the same in
README.md, docs/writing-a-plugin.md and the command's own output; the testing example runs."""

from __future__ import annotations

import re
from pathlib import Path

from skyplex.scaffold import next_steps

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "writing-a-plugin.md").read_text()


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def test_guide_starts_with_the_command_and_the_printed_next_steps():
    first = blocks(GUIDE, "bash")[0].strip().splitlines()
    assert first[0] == "skyplex new-plugin myeval"
    printed = [line.split("#")[0].strip() for line in next_steps(Path("plugins/myeval")).splitlines()[1:]]
    assert first[1:] == [line for line in printed if not line.startswith("skyplex")]


def test_readme_names_the_same_command():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^skyplex new-plugin myeval\s", readme, re.M)
    assert "python -m skyplex.scaffold" not in readme


def test_guide_tree_matches_the_template(tmp_path):
    from skyplex.scaffold import render_plugin

    out = render_plugin("myeval", tmp_path / "myeval")
    rendered = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    tree = GUIDE[GUIDE.index("plugins/myeval/\n") :].split("```", 1)[0]
    named = set(re.findall(r"^\s+(\S+\.(?:py|toml|md))\s", tree, re.M))
    assert {Path(p).name for p in rendered} == named


def test_testing_example_runs():
    (example,) = [b for b in blocks(GUIDE, "python") if "ScriptedModelBackend" in b]
    exec(compile(example, "writing-a-plugin.md", "exec"), {})
