"""Conformance kits: one base test class per interface kind, one module per kind.

Every implementation's test module subclasses the kit for its kind and overrides the fixtures that
build the object under test and its inputs. The kit's tests then check the contract every caller
(gateway, CLI, other plugins) relies on. Example::

    from skyplex.testing import AllocatorConformance

    class TestMyAllocator(AllocatorConformance):
        @pytest.fixture
        def allocator(self):
            return MyAllocator()

        @pytest.fixture
        def problem(self):
            return AllocationProblem(...)

``EntryPointConformance`` checks that a plugin's distribution installs and registers what it promises,
and ``PluginShapeConformance`` that it has the shape every plugin shares (docs/architecture.md).
"""

from .allocator import AllocatorConformance
from .auditor import AuditorConformance
from .entrypoint import EntryPointConformance
from .evaluator import EvaluatorConformance
from .executor import ExecutorConformance
from .inspector import InspectorConformance
from .model import ModelBackendConformance
from .scheduler import SchedulerConformance
from .shape import PluginShapeConformance
from .trainer import TrainerConformance

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
