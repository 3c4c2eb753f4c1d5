"""Fixtures for the voting tests: a kernel with this plugin and scripted model backends (no weights).

``cycler`` answers a cycle of letters with one unparsable reply, so K samples of a prompt really
differ and abstentions occur; the local SmolLM2 tests use the kernel's ``skyplex_local_backend``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from skyplex import Kernel, Settings, hookimpl
from skyplex.plugins import make_plugin_manager
from skyplex.testing import FakeModelBackend, ScriptedModelBackend

DATA = Path(__file__).parent / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: one prompt's K answers cycle through these: B leads, A and C follow, one reply names no option
CYCLE = ["B", "The answer is B.", "A", "(c)", "B) 7", "I am not sure", "A", "b."]


class TestModels:
    """A test-only plugin registering model backends, as a real plugin would."""

    @hookimpl
    def skyplex_register_models(self, register):
        register("cycler", lambda: ScriptedModelBackend(CYCLE, repeat=True))
        register("judge", lambda: FakeModelBackend(lambda prompt: "yes" if "Proposed answer: B" in prompt else "no"))


def make_kernel(settings: Settings) -> Kernel:
    """This plugin (through its entry point) and the test backends only."""
    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"voting"}, extra=[("test-models", TestModels())])
    return Kernel(settings=settings, pm=pm, strict=True)


@pytest.fixture
def kernel(tmp_path):
    k = make_kernel(Settings(data_dir=tmp_path / "data"))
    k.startup()
    yield k
    k.close()


@pytest.fixture
def kernel_factory():
    return make_kernel


@pytest.fixture
def data_dir() -> Path:
    return DATA


# -- the documented surface (docs/plugins/voting.md) --------------------------------------------------
REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "plugins" / "voting.md"


def _doc_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def doc_commands() -> list[str]:
    """Every ``skyplex voting ...`` line of the doc's bash blocks, as written."""
    return [line.strip() for block in _doc_blocks() for line in block.splitlines() if line.startswith("skyplex voting")]


@pytest.fixture
def doc_curls() -> list[tuple[str, dict]]:
    """Every curl of the doc's bash blocks as (path, JSON body)."""
    out = []
    for block in _doc_blocks():
        for cmd in block.replace("\\\n", " ").splitlines():
            if cmd.startswith("curl"):
                args = shlex.split(cmd)
                url = next(a for a in args if "localhost" in a)
                out.append((url.split("localhost:8000", 1)[1], json.loads(args[args.index("-d") + 1])))
    return out


@pytest.fixture
def in_tmp_repo(tmp_path, monkeypatch):
    """Run commands from a folder where the documented relative paths resolve, writing outputs there."""
    (tmp_path / "plugins").symlink_to(REPO / "plugins")
    monkeypatch.chdir(tmp_path)
    return tmp_path
