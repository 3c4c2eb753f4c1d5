"""Testing support for skyplex and its plugins: conformance kits, test model backends, pytest fixtures.

The pytest plugin (``skyplex.testing.plugin``) is registered through the ``pytest11`` entry point,
so the fixtures are available in every project that has skyplex installed.
"""

from .docs import code_blocks, documented_commands, plugin_doc, run_cli
from .fakes import FakeModelBackend, ScriptedModelBackend
from .kits import (
    AllocatorConformance,
    AuditorConformance,
    EntryPointConformance,
    EvaluatorConformance,
    ExecutorConformance,
    InspectorConformance,
    ModelBackendConformance,
    PluginShapeConformance,
    SchedulerConformance,
    TrainerConformance,
)
from .polling import wait_for
from .serve import GatewayProcess, gateway_process

__all__ = [
    "AllocatorConformance",
    "AuditorConformance",
    "EntryPointConformance",
    "EvaluatorConformance",
    "FakeModelBackend",
    "GatewayProcess",
    "ExecutorConformance",
    "InspectorConformance",
    "ModelBackendConformance",
    "PluginShapeConformance",
    "SchedulerConformance",
    "ScriptedModelBackend",
    "TrainerConformance",
    "code_blocks",
    "documented_commands",
    "gateway_process",
    "plugin_doc",
    "run_cli",
    "wait_for",
]
