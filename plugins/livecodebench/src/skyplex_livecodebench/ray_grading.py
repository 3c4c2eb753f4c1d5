"""Grading on a Ray cluster, for more programs than one machine grades in time.

Each batch of programs becomes one Ray task; the task grades its batch with the same sandboxed grader
as the local executor (so every program still runs as its own process in the kernel sandbox of the
node that runs the task, and verdicts are the same). Every node needs this plugin, bubblewrap and
``/usr/bin/python3``, as a local grading machine does. The driver journals each verdict as its task
finishes, so a task whose worker dies costs only that task's batch: Ray retries it ``retries`` times,
and if it still fails the run stops with an error after recording every verdict that did finish, and a
rerun with the same journal grades only the rest.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from skyplex import InvalidInputError


class GradingInterrupted(RuntimeError):
    """Some batches could not be graded (their Ray workers died); the finished verdicts were recorded."""


def grade_on_worker(items: Sequence[tuple[Any, str | None]], tests: str, limits: Any) -> list[dict]:
    """The Ray task's body: grade one batch in this node's sandbox, verdicts as plain dicts."""
    from .grader import grade_batch

    return [v.to_dict() for v in grade_batch(items, tests=tests, limits=limits)]  # type: ignore[arg-type]


def _ray(address: str | None) -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInputError("the ray executor needs Ray: pip install 'skyplex-livecodebench[ray]'") from None
    if not ray.is_initialized():
        # address None starts a local Ray instance (or joins the one RAY_ADDRESS names); "auto" joins the
        # cluster this node belongs to; "ray://host:10001" connects a client to a remote cluster
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


def run_batches(batches: Sequence[tuple[Sequence[int], tuple]], record: Callable[[int, dict], None], *,
                address: str | None = None, retries: int = 2) -> None:
    """Grade ``(task indices, (items, tests, limits))`` batches as Ray tasks; ``record(index, verdict)``
    is called on the driver for each verdict as soon as its batch is done.

    Raises :class:`GradingInterrupted` after every other batch has finished if a batch failed for good.
    """
    if retries < 0:
        raise InvalidInputError("retries must be 0 or more")
    ray = _ray(address)
    task = ray.remote(num_cpus=1, max_retries=retries)(grade_on_worker)
    owners = {task.remote(*args): indices for indices, args in batches}
    pending, failures = list(owners), []
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            try:
                verdicts = ray.get(ref)
            except ray.exceptions.RayError as exc:
                first_line = (str(exc).strip().splitlines() or [""])[0][:200]
                failures.append(f"{type(exc).__name__}: {first_line}")
                continue
            for i, v in zip(owners[ref], verdicts):
                record(i, v)
    if failures:
        raise GradingInterrupted(
            f"{len(failures)} of {len(owners)} grading batches failed on Ray ({failures[0]}); every finished verdict "
            "was recorded: rerun with the same journal to grade only the rest")
