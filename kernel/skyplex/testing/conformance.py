"""The conformance kits, importable under their original module name.

The kits live one module per kind in ``skyplex.testing.kits``; import them from ``skyplex.testing``.
"""

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

__all__ = [
    "AllocatorConformance",
    "AuditorConformance",
    "EntryPointConformance",
    "EvaluatorConformance",
    "ExecutorConformance",
    "InspectorConformance",
    "ModelBackendConformance",
    "PluginShapeConformance",
    "SchedulerConformance",
    "TrainerConformance",
]
