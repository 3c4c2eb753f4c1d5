"""Typed interfaces: one module per kind, plus the shared vocabulary in ``common``."""

from .allocator import AllocationProblem, Allocator
from .auditor import Artifact, Auditor, Claim, Commitment, Proof, Verdict
from .common import SLO, Allocation, GPUType, ModelSpec, Placement, RequestClass, SkyplexModel, Workload
from .evaluator import Evaluator, ItemRecord, ProgressCallback, Report, Score, Subject, Suite
from .executor import Action, ActionRecord, ActionStatus, Executor
from .inspector import InspectionArtifact, InspectionReport, Inspector, InspectTarget
from .model import (
    ChatMessage,
    Completion,
    ContinuationScore,
    GenerationParams,
    ModelBackend,
    ModelInfo,
    NotSupportedError,
    OutputConstraint,
    Prompt,
    PromptLogprobs,
    ScoreRequest,
    TokenLogprob,
    TokenPrompt,
    Usage,
)
from .scheduler import Schedule, ScheduledRequest, Scheduler
from .trainer import DatasetArtifact, DatasetSpec, FinetuneSpec, Trainer, TrainingResult

#: kind name -> the ABC every registered factory must produce.
KINDS: dict[str, type] = {
    "allocator": Allocator,
    "scheduler": Scheduler,
    "executor": Executor,
    "auditor": Auditor,
    "evaluator": Evaluator,
    "trainer": Trainer,
    "inspector": Inspector,
    "model": ModelBackend,
}

__all__ = [
    "KINDS",
    "SLO",
    "Action",
    "ActionRecord",
    "ActionStatus",
    "Allocation",
    "AllocationProblem",
    "Allocator",
    "Artifact",
    "Auditor",
    "ChatMessage",
    "Claim",
    "Commitment",
    "Completion",
    "ContinuationScore",
    "DatasetArtifact",
    "DatasetSpec",
    "Evaluator",
    "Executor",
    "FinetuneSpec",
    "GPUType",
    "GenerationParams",
    "InspectTarget",
    "InspectionArtifact",
    "InspectionReport",
    "Inspector",
    "ItemRecord",
    "ModelBackend",
    "ModelInfo",
    "ModelSpec",
    "Placement",
    "ProgressCallback",
    "NotSupportedError",
    "OutputConstraint",
    "Prompt",
    "PromptLogprobs",
    "ScoreRequest",
    "TokenPrompt",
    "Proof",
    "Report",
    "RequestClass",
    "Schedule",
    "ScheduledRequest",
    "Scheduler",
    "Score",
    "SkyplexModel",
    "Subject",
    "Suite",
    "TokenLogprob",
    "Trainer",
    "TrainingResult",
    "Usage",
    "Verdict",
    "Workload",
]
