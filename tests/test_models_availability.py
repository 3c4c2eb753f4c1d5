"""`skyplex models list` says a backend is available only when it can run: torch and the weights for
the local backend, checked without loading the model."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import sys

import pytest
from click.testing import CliRunner

from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.cli import CliState
from skyplex.cli.main import cli
from skyplex.models import _local_weights as weights


def models_list(tmp_path) -> dict[str, dict]:
    pm = make_plugin_manager(entrypoints=False)
    state = CliState(lambda s: Kernel(settings=s, pm=pm))
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "models", "list", "--json"], obj=state,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_local_is_unavailable_without_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what find_spec sees when torch is not installed
    row = models_list(tmp_path)["local"]
    assert row["available"] is False
    assert "missing torch" in row["reason"] and "pip install" in row["reason"]


def test_local_is_unavailable_without_weights(tmp_path, monkeypatch):
    if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "safetensors", "gguf")):
        pytest.skip("the local extra is not installed here; the missing-dependency test covers this machine")
    monkeypatch.setattr(weights, "WEIGHTS_DISTRIBUTION", "skyplex-no-such-weights")
    row = models_list(tmp_path)["local"]
    assert row["available"] is False
    assert "weights are not installed" in row["reason"]


def test_table_prints_the_reason(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    pm = make_plugin_manager(entrypoints=False)
    state = CliState(lambda s: Kernel(settings=s, pm=pm))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["--data-dir", str(tmp_path), "models", "list"], obj=state)
    assert result.exit_code == 0
    assert "local unavailable: missing torch" in result.stdout


def test_available_exactly_when_dependencies_and_weights_are_here(tmp_path):
    runtime = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "safetensors", "gguf"))
    try:
        md.distribution(weights.WEIGHTS_DISTRIBUTION)
        packaged = True
    except md.PackageNotFoundError:
        packaged = False
    assert models_list(tmp_path)["local"]["available"] is (runtime and packaged)


def test_converted_weights_make_the_weights_package_unnecessary(tmp_path, monkeypatch):
    if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "safetensors")):
        pytest.skip("the local extra is not installed here")
    converted = tmp_path / "models" / weights.CACHE_NAME
    converted.mkdir(parents=True)
    monkeypatch.setattr(weights, "is_converted", lambda folder: folder == converted)
    monkeypatch.setattr(weights, "WEIGHTS_DISTRIBUTION", "skyplex-no-such-weights")
    assert models_list(tmp_path)["local"]["available"] is True


def test_check_is_not_part_of_the_listing(tmp_path):
    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=make_plugin_manager(entrypoints=False))
    assert all("check" not in row for row in kernel.models.describe())
