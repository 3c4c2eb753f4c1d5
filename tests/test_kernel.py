"""Kernel registries, lifecycle hooks, settings."""

from __future__ import annotations

import pytest

from skyplex import (
    InvalidInputError,
    Kernel,
    NotFoundError,
    PluginError,
    Settings,
    hookimpl,
    make_plugin_manager,
)
from skyplex.interfaces import Inspector, InspectionReport, ModelSpec


class EchoInspector(Inspector):
    def __init__(self, prefix: str = "", kernel=None):
        self.prefix = prefix
        self.kernel = kernel

    def inspect(self, target):
        return InspectionReport(inspector=self.name, target=target, summary=self.prefix + target.ref)


class Lifecycle:
    def __init__(self):
        self.events = []

    @hookimpl
    def skyplex_configure(self, config):
        self.events.append(("configure", config.default_model))

    @hookimpl
    def skyplex_register_inspectors(self, register):
        register("echo", EchoInspector, description="echoes the target")
        register("not-an-inspector", lambda: object())

    @hookimpl
    def skyplex_startup(self, kernel):
        self.events.append(("startup", kernel.inspectors.names()))

    @hookimpl
    def skyplex_shutdown(self, kernel):
        self.events.append(("shutdown",))


@pytest.fixture
def plugin():
    return Lifecycle()


@pytest.fixture
def kernel(plugin, tmp_path):
    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("life", plugin)])
    k = Kernel(settings=Settings(data_dir=tmp_path, plugins={"echo": {"prefix": ">"}}), pm=pm)
    yield k
    k.close()


def test_lifecycle_hooks_in_order(kernel, plugin):
    with kernel:
        pass
    assert plugin.events == [
        ("configure", "local"),
        ("startup", ["echo", "not-an-inspector"]),
        ("shutdown",),
    ]


def test_factory_gets_kernel_and_configured_options(kernel):
    echo = kernel.inspectors.get("echo")
    assert echo.kernel is kernel and echo.prefix == ">"
    assert kernel.inspectors.create("echo", prefix="#").prefix == "#"
    assert kernel.inspectors.describe()[0]["description"] == "echoes the target"


def test_unknown_name_error_lists_known(kernel):
    with pytest.raises(NotFoundError, match="unknown inspector 'nope'; installed inspectors: echo, not-an-inspector"):
        kernel.inspectors.get("nope")
    with pytest.raises(NotFoundError, match="unknown kind"):
        kernel.registry("oracle")


def test_factory_returning_wrong_type_is_a_plugin_error(kernel):
    with pytest.raises(PluginError, match="plugin 'life'.*not a Inspector"):
        kernel.inspectors.create("not-an-inspector")


def test_bad_options_are_reported(kernel):
    with pytest.raises(InvalidInputError, match="cannot create inspector 'echo'"):
        kernel.inspectors.create("echo", colour="red")


def test_invalid_registration_name_rejected(tmp_path):
    class Bad:
        @hookimpl
        def skyplex_register_inspectors(self, register):
            register("has space", EchoInspector)

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("bad", Bad())])
    k = Kernel(settings=Settings(data_dir=tmp_path), pm=pm)
    assert "has space" not in k.inspectors
    assert any("has space" in e.error for e in k.plugin_errors)


def test_kernels_are_independent(tmp_path):
    a = Kernel(settings=Settings(data_dir=tmp_path / "a"), pm=make_plugin_manager(entrypoints=False))
    b = Kernel(settings=Settings(data_dir=tmp_path / "b"), pm=make_plugin_manager(entrypoints=False))
    assert a.registries["model"] is not b.registries["model"]
    assert a.models.names() == b.models.names()


def test_settings_from_env_and_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYPLEX_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("SKYPLEX_JOB_WORKERS", "3")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("default_model: openai\nmodels:\n  local:\n    threads: 1\n")
    s = Settings.load(cfg)
    assert s.data_dir == tmp_path / "d" and s.job_workers == 3 and s.default_model == "openai"
    assert s.models == {"local": {"threads": 1}}
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'skyplex.db'}"


@pytest.mark.parametrize(
    "text, match",
    [
        ("models: [unclosed", "not valid YAML"),
        ("- a list\n", "must hold a mapping"),
        ("job_workers: many\n", "invalid setting 'job_workers'"),
        ("colour: red\n", "invalid setting 'colour'"),
    ],
)
def test_bad_config_file_errors(tmp_path, text, match):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(InvalidInputError, match=match):
        Settings.load(cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot read config file"):
        Settings.load(tmp_path / "missing.yaml")


def test_model_spec_derives_kv_bytes():
    spec = ModelSpec(name="llama-7b", params_b=6.7, num_layers=32, num_kv_heads=32, head_dim=128)
    assert spec.kv_bytes_per_token == 2 * 32 * 32 * 128 * 2  # 512 KiB per token in fp16
    assert spec.weight_bytes == pytest.approx(13.4e9)


def test_factory_by_reference_is_imported_on_first_use(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sp_lazy_impl.py").write_text(
        "from skyplex.interfaces import Inspector, InspectionReport\n"
        "class Lazy(Inspector):\n"
        "    '''Inspects lazily.'''\n"
        "    def __init__(self, kernel=None):\n"
        "        self.kernel = kernel\n"
        "    def inspect(self, target):\n"
        "        return InspectionReport(inspector=self.name, target=target, summary='lazy')\n"
    )
    monkeypatch.syspath_prepend(str(site))

    class ByReference:
        @hookimpl
        def skyplex_register_inspectors(self, register):
            register("lazy", "sp_lazy_impl:Lazy", description="imported on first use")
            register("missing", "sp_lazy_impl:Nope")

    import sys

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("ref", ByReference())])
    k = Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=True)
    assert "sp_lazy_impl" not in sys.modules  # registering and listing import nothing
    assert k.inspectors.describe()[0]["description"] == "imported on first use"
    assert "sp_lazy_impl" not in sys.modules
    lazy = k.inspectors.get("lazy")
    assert lazy.kernel is k and lazy.name == "lazy" and "sp_lazy_impl" in sys.modules
    with pytest.raises(PluginError, match="plugin 'ref': cannot load inspector 'missing' from 'sp_lazy_impl:Nope'"):
        k.inspectors.get("missing")
    sys.modules.pop("sp_lazy_impl", None)


def test_malformed_factory_reference_is_rejected(tmp_path):
    class Bad:
        @hookimpl
        def skyplex_register_inspectors(self, register):
            register("bad", "no_colon_here")

    k = Kernel(settings=Settings(data_dir=tmp_path), pm=make_plugin_manager(builtins=False, entrypoints=False, extra=[("bad", Bad())]))
    assert "bad" not in k.inspectors
    assert any("must be 'package.module:attr'" in e.error for e in k.plugin_errors)
