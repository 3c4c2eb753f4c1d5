"""skyplex.testing.docs: the helpers plugin tests use to run the documented commands exactly as written."""

from __future__ import annotations

import json
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyplex.testing.docs import code_blocks, documented_commands, plugin_doc, run_cli

PAGE = """# demo

```console
$ skyplex demo run --name 'two words' -k 3
ran 3 times
done
$ skyplex demo show
shown
```

```sh
skyplex demo run --not-console
```

```console
$ skyplex other thing
$ skyplex demo last "a\\"b"
```
"""


def test_commands_and_their_promised_output_are_read_as_a_shell_splits_them():
    assert documented_commands(PAGE, "skyplex demo") == [
        (["demo", "run", "--name", "two words", "-k", "3"], ["ran 3 times", "done"]),
        (["demo", "show"], ["shown"]),
        (["demo", "last", 'a"b'], []),
    ]
    assert [argv for argv, _ in documented_commands(PAGE)][2] == ["other", "thing"]
    assert code_blocks(PAGE, "sh") == ["skyplex demo run --not-console\n"]


words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12)
outputs = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)
                   .filter(lambda line: not line.startswith("$ ") and not line.startswith("```")), max_size=3)


@given(st.lists(st.tuples(st.lists(words, min_size=1, max_size=5), outputs), min_size=1, max_size=4))
def test_any_quoted_command_reads_back_as_written(commands):
    body = "".join(f"$ skyplex {shlex.join(argv)}\n" + "".join(f"{line}\n" for line in out) for argv, out in commands)
    assert documented_commands(f"text\n```console\n{body}```\n") == [(argv, out) for argv, out in commands]


def test_plugin_doc_is_found_above_the_test_file_and_missing_fails(tmp_path):
    page = tmp_path / "docs" / "plugins" / "demo.md"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE)
    test_file = tmp_path / "plugins" / "demo" / "tests" / "test_cli.py"
    test_file.parent.mkdir(parents=True)
    assert plugin_doc("demo", test_file) == page
    with pytest.raises(AssertionError, match="docs/plugins/absent.md not found"):
        plugin_doc("absent", test_file)


def test_run_cli_invokes_the_real_group_with_the_chosen_plugins(tmp_path):
    result = run_cli(["--json", "plugins"], plugins=(), builtins=True, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert "skyplex" in json.dumps(json.loads(result.stdout))
    bad = run_cli(["no-such-command"], plugins=(), data_dir=tmp_path / "data")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
