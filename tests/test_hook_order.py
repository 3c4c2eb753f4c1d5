"""The kernel's hook loop keeps pluggy's contract: tryfirst first, trylast last, latest plain
implementation before earlier ones, historic hooks replayed, and wrappers refused with a clear error."""

from __future__ import annotations

import itertools

import pytest

from skyplex import Kernel, PluginError, Settings, hookimpl, make_plugin_manager


def recorder(tag: str, calls: list[str], **marker: bool) -> object:
    """A plugin object whose ``skyplex_startup`` appends ``tag`` to ``calls``."""

    class Plugin:
        @hookimpl(**marker)
        def skyplex_startup(self, kernel):
            calls.append(tag)

    return Plugin()


def kernel_order(specs: list[tuple[str, dict[str, bool]]], tmp_path) -> list[str]:
    calls: list[str] = []
    extra = [(tag, recorder(tag, calls, **marker)) for tag, marker in specs]
    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=extra)
    with Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=True):
        pass
    return calls


def reference_order(specs: list[tuple[str, dict[str, bool]]]) -> list[str]:
    calls: list[str] = []
    pm = make_plugin_manager(builtins=False, entrypoints=False)
    for tag, marker in specs:
        pm.register(recorder(tag, calls, **marker), name=tag)
    pm.hook.skyplex_startup(kernel=None)
    return calls


def test_tryfirst_runs_first_and_trylast_last(tmp_path):
    specs = [("late", {"trylast": True}), ("a", {}), ("first", {"tryfirst": True}), ("b", {})]
    assert kernel_order(specs, tmp_path) == ["first", "b", "a", "late"]


MARKERS = [{}, {"tryfirst": True}, {"trylast": True}]


@pytest.mark.parametrize("markers", list(itertools.product(MARKERS, repeat=4)))
def test_order_matches_pluggy_for_every_marker_combination(markers, tmp_path):
    specs = [(f"p{i}", m) for i, m in enumerate(markers)]
    assert kernel_order(specs, tmp_path) == reference_order(specs)


class NewStyleWrapper:
    @hookimpl(wrapper=True)
    def skyplex_startup(self, kernel):
        return (yield)


class OldStyleWrapper:
    @hookimpl(hookwrapper=True)
    def skyplex_startup(self, kernel):
        yield


@pytest.mark.parametrize("wrapper", [NewStyleWrapper, OldStyleWrapper])
def test_wrappers_are_refused_at_load_with_a_clear_error(wrapper, tmp_path):
    calls: list[str] = []
    pm = make_plugin_manager(
        builtins=False, entrypoints=False, extra=[("wrapping", wrapper()), ("plain", recorder("plain", calls))]
    )
    (err,) = pm.load_errors
    assert err.plugin == "wrapping" and err.where == "validate"
    assert "skyplex_startup" in err.error and "wrapper" in err.error
    assert not pm.has_plugin("wrapping")
    with Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=False):
        pass
    assert calls == ["plain"]  # the other plugin is unaffected


def test_wrapper_registered_late_is_skipped_and_reported(tmp_path):
    pm = make_plugin_manager(builtins=False, entrypoints=False)
    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=pm)
    pm.register(NewStyleWrapper(), name="late-wrapper")
    results = kernel.call_each("skyplex_startup", {"kernel": kernel})
    assert results == []  # no unexecuted generator lands in the results
    assert [e.plugin for e in kernel.hook_errors] == ["late-wrapper"]
    pm = make_plugin_manager(builtins=False, entrypoints=False)
    strict = Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=True)
    pm.register(OldStyleWrapper(), name="late-wrapper")
    with pytest.raises(PluginError, match="wrapper"):
        strict.call_each("skyplex_startup", {"kernel": strict})


def test_historic_configure_reaches_plugins_registered_after_the_kernel(tmp_path):
    seen: list[object] = []

    class Late:
        @hookimpl
        def skyplex_configure(self, config):
            seen.append(config)

    pm = make_plugin_manager(builtins=False, entrypoints=False)
    settings = Settings(data_dir=tmp_path)
    Kernel(settings=settings, pm=pm)
    assert seen == []
    pm.register(Late(), name="late")
    assert seen == [settings]  # replayed on registration with the kernel's settings


def test_results_follow_call_order(tmp_path):
    class Answer:
        def __init__(self, value, **marker):
            self.value = value

            @hookimpl(**marker)
            def skyplex_startup(kernel):
                return self.value

            self.skyplex_startup = skyplex_startup

    extra = [("one", Answer(1, trylast=True)), ("two", Answer(2)), ("three", Answer(3, tryfirst=True))]
    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=extra)
    kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=pm)
    assert kernel.call_each("skyplex_startup", {"kernel": kernel}) == [3, 2, 1]
    assert kernel.call_each("skyplex_startup", {"kernel": kernel}) == pm.hook.skyplex_startup(kernel=kernel)
