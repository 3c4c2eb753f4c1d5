"""Conformance kits: one base test class per interface kind.

Every implementation's test module subclasses the kit for its kind and overrides the fixtures that
build the object under test and its inputs. The kit's tests then check the contract every caller
(gateway, CLI, other plugins) relies on. Example::

    class TestMyAllocator(AllocatorConformance):
        @pytest.fixture
        def allocator(self):
            return MyAllocator()

        @pytest.fixture
        def problem(self):
            return AllocationProblem(...)
"""

from __future__ import annotations

import base64
import importlib.metadata as md
import math
from typing import Any

import pytest

from ..errors import NotFoundError
from ..interfaces import (
    KINDS,
    Action,
    ActionRecord,
    Allocation,
    AllocationProblem,
    Artifact,
    ChatMessage,
    Claim,
    Commitment,
    Completion,
    DatasetArtifact,
    DatasetSpec,
    FinetuneSpec,
    GenerationParams,
    InspectionReport,
    InspectTarget,
    ModelInfo,
    Proof,
    Report,
    Schedule,
    ScheduledRequest,
    Suite,
    TrainingResult,
    Verdict,
)


def _must_override(name: str):
    pytest.fail(f"the conformance subclass must override the {name!r} fixture")


# --------------------------------------------------------------------------------------------
class ModelBackendConformance:
    """Contract of a model backend. Override ``backend``; optionally ``prompt``."""

    @pytest.fixture
    def backend(self):
        _must_override("backend")

    @pytest.fixture
    def prompt(self) -> str:
        return "List three colours:"

    def test_info_does_not_fail(self, backend):
        info = backend.info()
        assert isinstance(info, ModelInfo)
        assert info.model

    def test_empty_batch_gives_empty_list(self, backend):
        assert backend.generate([], GenerationParams(max_tokens=2)) == []

    def test_one_completion_per_prompt(self, backend, prompt):
        outs = backend.generate([prompt, "Say hello."], GenerationParams(max_tokens=4))
        assert len(outs) == 2
        assert all(isinstance(c, Completion) for c in outs)
        assert all(c.usage.prompt_tokens > 0 for c in outs)

    def test_max_tokens_is_respected(self, backend, prompt):
        (out,) = backend.generate([prompt], GenerationParams(max_tokens=3))
        assert 1 <= out.usage.completion_tokens <= 3
        if out.finish_reason == "length":
            assert out.usage.completion_tokens == 3

    def test_greedy_is_deterministic(self, backend, prompt):
        params = GenerationParams(max_tokens=8, temperature=0.0)
        a = backend.generate([prompt], params)[0].text
        b = backend.generate([prompt], params)[0].text
        assert a == b

    def test_chat_prompt_is_accepted(self, backend):
        msgs = [ChatMessage(role="user", content="Reply with one word.")]
        (out,) = backend.generate([msgs], GenerationParams(max_tokens=4))
        assert out.usage.prompt_tokens > 0

    def test_logprobs_match_tokens(self, backend, prompt):
        if not backend.info().supports_logprobs:
            pytest.skip("backend does not support logprobs")
        (out,) = backend.generate([prompt], GenerationParams(max_tokens=5, logprobs=True))
        assert out.logprobs is not None
        assert len(out.logprobs) == out.usage.completion_tokens
        assert all(lp.logprob <= 1e-6 and math.isfinite(lp.logprob) for lp in out.logprobs)

    def test_stop_sequence_truncates(self, backend, prompt):
        params = GenerationParams(max_tokens=16)
        full = backend.generate([prompt], params)[0].text
        if len(full.strip()) < 4:
            pytest.skip("greedy output too short to pick a stop sequence from")
        # a stop string taken from the middle of the greedy output must cut the text just before it
        stop = full.strip()[2:4]
        cut = backend.generate([prompt], params.model_copy(update={"stop": [stop]}))[0]
        assert cut.finish_reason == "stop"
        assert stop not in cut.text
        assert full.startswith(cut.text)

    def test_stream_matches_generate(self, backend, prompt):
        params = GenerationParams(max_tokens=6)
        assert "".join(backend.stream(prompt, params)) == backend.generate([prompt], params)[0].text


# --------------------------------------------------------------------------------------------
class AllocatorConformance:
    """Contract of an allocator. Override ``allocator`` and ``problem`` (a feasible problem)."""

    @pytest.fixture
    def allocator(self):
        _must_override("allocator")

    @pytest.fixture
    def problem(self) -> AllocationProblem:
        _must_override("problem")

    def test_returns_allocation(self, allocator, problem):
        alloc = allocator.allocate(problem)
        assert isinstance(alloc, Allocation)
        assert alloc.allocator == allocator.name
        assert all(isinstance(n, int) and n >= 0 for n in alloc.gpus.values())
        assert alloc.cost_per_hour >= 0

    def test_cost_matches_prices(self, allocator, problem):
        alloc = allocator.allocate(problem)
        prices = {g.name: g.price_per_hour for g in problem.gpu_types}
        if not alloc.feasible or not prices or not set(alloc.gpus) <= set(prices):
            pytest.skip("allocation not priced from the problem's GPU types")
        expected = sum(prices[g] * n for g, n in alloc.gpus.items())
        assert alloc.cost_per_hour == pytest.approx(expected, rel=1e-6, abs=1e-9)

    def test_is_deterministic(self, allocator, problem):
        assert allocator.allocate(problem).gpus == allocator.allocate(problem).gpus

    def test_round_trips_as_json(self, allocator, problem):
        alloc = allocator.allocate(problem)
        assert Allocation.model_validate_json(alloc.model_dump_json()) == alloc


# --------------------------------------------------------------------------------------------
class SchedulerConformance:
    """Contract of a scheduler. Override ``scheduler`` and ``requests``."""

    @pytest.fixture
    def scheduler(self):
        _must_override("scheduler")

    @pytest.fixture
    def requests(self) -> list[ScheduledRequest]:
        _must_override("requests")

    def test_every_request_covered_once(self, scheduler, requests):
        sched = scheduler.plan(requests)
        assert isinstance(sched, Schedule)
        ids = {r.id for r in requests}
        assert len(sched.order) == len(set(sched.order)), "order repeats an id"
        assert set(sched.order).isdisjoint(sched.dedup), "an id is both run and deduplicated"
        assert set(sched.order) | set(sched.dedup) == ids
        assert set(sched.dedup.values()) <= set(sched.order), "a duplicate points at an id that never runs"

    def test_batches_follow_order(self, scheduler, requests):
        sched = scheduler.plan(requests)
        if sched.batches:
            assert [i for b in sched.batches for i in b] == sched.order

    def test_is_deterministic(self, scheduler, requests):
        assert scheduler.plan(requests).order == scheduler.plan(requests).order

    def test_empty_input(self, scheduler):
        sched = scheduler.plan([])
        assert sched.order == [] and sched.dedup == {}


# --------------------------------------------------------------------------------------------
class ExecutorConformance:
    """Contract of an executor. Override ``executor`` and ``action``; override ``snapshot`` (a
    zero-argument callable returning the observable state the action changes) so the kit can check
    that undo restores it exactly."""

    @pytest.fixture
    def executor(self):
        _must_override("executor")

    @pytest.fixture
    def action(self) -> Action:
        _must_override("action")

    @pytest.fixture
    def snapshot(self):
        return None

    def test_lifecycle_and_undo(self, executor, action, snapshot):
        before = snapshot() if snapshot else None
        rec = executor.propose(action)
        assert isinstance(rec, ActionRecord) and rec.status == "proposed"
        assert executor.run(rec.id).status == "ran"
        if snapshot:
            assert snapshot() == before, "run must not change real state before commit"
        assert executor.commit(rec.id).status == "committed"
        if snapshot:
            assert snapshot() != before, "commit must apply the action"
        assert executor.undo(rec.id).status == "undone"
        if snapshot:
            assert snapshot() == before, "undo must restore the state exactly"

    def test_journal_lists_actions_newest_first(self, executor, action):
        a = executor.propose(action)
        b = executor.propose(action)
        ids = [r.id for r in executor.journal(limit=10)]
        assert ids.index(b.id) < ids.index(a.id)

    def test_unknown_action_id(self, executor):
        with pytest.raises(NotFoundError):
            executor.run("no-such-action")


# --------------------------------------------------------------------------------------------
class AuditorConformance:
    """Contract of an auditor. Override ``auditor``, ``artifact`` and ``claim`` (a function of the
    artifact's Commitment returning a Claim the auditor can prove)."""

    @pytest.fixture
    def auditor(self):
        _must_override("auditor")

    @pytest.fixture
    def artifact(self) -> Artifact:
        _must_override("artifact")

    @pytest.fixture
    def claim(self):
        _must_override("claim")

    @pytest.fixture
    def proof(self, auditor, artifact, claim) -> Proof:
        commitment = auditor.commit(artifact)
        assert isinstance(commitment, Commitment) and commitment.digest
        c = claim(commitment)
        assert isinstance(c, Claim)
        return auditor.prove(c)

    def test_valid_proof_verifies(self, auditor, proof):
        verdict = auditor.verify(proof)
        assert isinstance(verdict, Verdict)
        assert verdict.valid, verdict.reason

    def test_tampered_proof_is_rejected(self, auditor, proof):
        raw = bytearray(base64.b64decode(proof.proof_b64))
        assert raw, "empty proof"
        raw[len(raw) // 2] ^= 0xFF
        bad = proof.model_copy(update={"proof_b64": base64.b64encode(bytes(raw)).decode()})
        verdict = auditor.verify(bad)
        assert not verdict.valid
        assert verdict.reason

    def test_proof_round_trips_as_json(self, auditor, proof):
        again = Proof.model_validate_json(proof.model_dump_json())
        assert auditor.verify(again).valid


# --------------------------------------------------------------------------------------------
class EvaluatorConformance:
    """Contract of an evaluator. Override ``evaluator``, ``subjects`` and ``suite``."""

    @pytest.fixture
    def evaluator(self):
        _must_override("evaluator")

    @pytest.fixture
    def subjects(self):
        _must_override("subjects")

    @pytest.fixture
    def suite(self) -> Suite:
        _must_override("suite")

    @pytest.fixture
    def report(self, evaluator, subjects, suite):
        calls: list[tuple[int, int, str]] = []
        rep = evaluator.evaluate(subjects, suite, progress=lambda d, t, m="": calls.append((d, t, m)))
        return rep, calls

    def test_report_shape(self, evaluator, subjects, suite, report):
        rep, _ = report
        assert isinstance(rep, Report)
        assert rep.evaluator == evaluator.name and rep.suite == suite.name
        names = {s.name for s in subjects}
        assert rep.scores, "a report must score something"
        assert {s.subject for s in rep.scores} <= names

    def test_confidence_intervals_bracket_values(self, report):
        rep, _ = report
        for s in rep.scores:
            if s.ci_low is not None and s.ci_high is not None:
                assert s.ci_low <= s.value <= s.ci_high, s

    def test_progress_is_reported(self, report):
        _, calls = report
        assert calls, "evaluators must report progress"
        done, total, _ = calls[-1]
        assert 0 <= done <= total and done == total

    def test_round_trips_as_json(self, report):
        rep, _ = report
        assert Report.model_validate_json(rep.model_dump_json()) == rep


# --------------------------------------------------------------------------------------------
class TrainerConformance:
    """Contract of a trainer. Override ``trainer`` and ``dataset_spec``; ``finetune_spec`` (a
    function of the built DatasetArtifact) is optional -- fine-tuning is skipped without it."""

    @pytest.fixture
    def trainer(self):
        _must_override("trainer")

    @pytest.fixture
    def dataset_spec(self) -> DatasetSpec:
        _must_override("dataset_spec")

    @pytest.fixture
    def finetune_spec(self):
        return None

    def test_builds_dataset(self, trainer, dataset_spec):
        import os

        art = trainer.build_dataset(dataset_spec)
        assert isinstance(art, DatasetArtifact)
        assert art.num_examples > 0 and os.path.exists(art.path)

    def test_finetunes(self, trainer, dataset_spec, finetune_spec):
        if finetune_spec is None:
            pytest.skip("no finetune_spec fixture")
        spec = finetune_spec(trainer.build_dataset(dataset_spec))
        assert isinstance(spec, FinetuneSpec)
        assert isinstance(trainer.finetune(spec), TrainingResult)


# --------------------------------------------------------------------------------------------
class InspectorConformance:
    """Contract of an inspector. Override ``inspector`` and ``target``."""

    @pytest.fixture
    def inspector(self):
        _must_override("inspector")

    @pytest.fixture
    def target(self) -> InspectTarget:
        _must_override("target")

    def test_inspect_reports(self, inspector, target):
        rep = inspector.inspect(target)
        assert isinstance(rep, InspectionReport)
        assert rep.inspector == inspector.name and rep.target == target
        assert rep.summary or rep.artifacts


# --------------------------------------------------------------------------------------------
class EntryPointConformance:
    """Checks a plugin installs through its entry point and registers what it promises.

    Set ``plugin_name`` (the entry-point name) and ``expected`` ({kind: [names]}); set
    ``create_options`` ({name: {option: value}}) for factories that need options to build.
    """

    plugin_name: str = ""
    expected: dict[str, list[str]] = {}
    create_options: dict[str, dict[str, Any]] = {}

    def test_entry_point_is_declared(self):
        assert self.plugin_name, "set plugin_name on the conformance subclass"
        names = {ep.name for ep in md.entry_points(group="skyplex")}
        assert self.plugin_name in names, f"no entry point {self.plugin_name!r} in group 'skyplex'"

    def test_loads_and_registers(self, tmp_path):
        from ..config import Settings
        from ..kernel import Kernel
        from ..plugins import make_plugin_manager

        pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={self.plugin_name})
        assert not pm.load_errors, [e.error for e in pm.load_errors]
        kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=True)
        try:
            for kind, names in self.expected.items():
                assert kind in KINDS, f"unknown kind {kind!r}"
                registry = kernel.registry(kind)
                for name in names:
                    assert name in registry, f"{kind} {name!r} not registered by {self.plugin_name!r}"
                    obj = registry.create(name, **self.create_options.get(name, {}))
                    assert isinstance(obj, KINDS[kind])
        finally:
            kernel.close()
