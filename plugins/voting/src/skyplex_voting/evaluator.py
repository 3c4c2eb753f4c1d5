"""The ``voting`` evaluator: how well a K-call majority vote of each subject answers a task, and the K to use.

``suite.options``:

* ``queries``: a JSONL path or a list of records (``prompt`` or ``question`` + ``choices``, and ``answer``).
* ``samples`` (8): answers sampled per query; ``answer_kind`` (``letter``), ``temperature`` (1.0),
  ``max_tokens`` (4), ``seed`` (0), ``cache`` (a JSONL path to resume from).
* ``kmax`` (100), ``tie`` (``random``), ``components`` (``auto``), ``level`` (0.95).

Per subject the report scores the single-call accuracy and the majority-vote accuracy of all the
samples (Wilson intervals), the predicted optimal K (with its interval) and the predicted accuracy
there; items are the queries with their vote. Unparsable answers are abstentions, counted in the
metadata, never elected.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Evaluator, ItemRecord, ProgressCallback, Report, Score, Subject, Suite

from .answers import majority_vote
from .api import counts_from_samples
from .fit import fit_law
from .sampling import load_queries, sample_task

if TYPE_CHECKING:
    from skyplex.kernel import Kernel

_OPTIONS = {"queries", "samples", "answer_kind", "temperature", "max_tokens", "seed", "cache", "kmax", "tie",
            "components", "level"}


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


class VotingEvaluator(Evaluator):
    """Voting inference systems: single-call vs K-call vote accuracy, and the fitted law's optimal K."""

    name = "voting"

    def __init__(self, *, kernel: Kernel | None = None, **defaults: Any) -> None:
        unknown = set(defaults) - _OPTIONS
        if unknown:
            raise InvalidInputError(f"unknown voting option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}",
                                    field="options")
        self.kernel = kernel
        self.defaults = defaults

    def _backend(self, subject: Subject):
        if self.kernel is None:
            raise InvalidInputError("the voting evaluator needs a kernel to reach model backends; create it with "
                                    "kernel.evaluators.get('voting')", field="subjects")
        return self.kernel.models.get(subject.backend or "local")

    def evaluate(self, subjects: Sequence[Subject], suite: Suite, *, progress: ProgressCallback | None = None) -> Report:
        """Sample each subject on the suite's queries and score its votes; see the module docstring."""
        opts = {**self.defaults, **suite.options}
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise InvalidInputError(f"unknown suite option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}",
                                    field="suite.options")
        if not subjects:
            raise InvalidInputError("give at least one subject (a model backend) to evaluate", field="subjects")
        if "queries" not in opts:
            raise InvalidInputError("suite.options.queries is required: a JSONL path or a list of query records",
                                    field="suite.options.queries")
        kind = opts.get("answer_kind", "letter")
        queries = load_queries(opts["queries"], answer_kind=kind)
        m = opts.get("samples", 8)
        kmax = opts.get("kmax", 100)
        report = progress or (lambda d, t, msg="": None)
        total = len(subjects) * len(queries)
        scores, items, meta = [], [], {}
        for si, subject in enumerate(subjects):
            backend = self._backend(subject)
            records = sample_task(
                backend, queries, m, temperature=opts.get("temperature", 1.0), max_tokens=opts.get("max_tokens", 4),
                seed=opts.get("seed", 0), answer_kind=kind,
                cache=f"{opts['cache']}.{subject.name}.jsonl" if opts.get("cache") else None,
                progress=lambda d, t, msg, si=si: report(si * len(queries) + d, total, f"{subject.name}: {msg}"))
            n = len(records)
            single = sum(r["answers"][0] == r["answer"] for r in records)
            rng = random.Random(opts.get("seed", 0))
            votes = [majority_vote(r["answers"], rng=rng) for r in records]
            voted = sum(v.answer == r["answer"] for v, r in zip(votes, records))
            lo1, hi1 = wilson(single, n)
            lov, hiv = wilson(voted, n)
            scores += [Score(subject=subject.name, metric="accuracy_k1", value=single / n, ci_low=lo1, ci_high=hi1, n=n),
                       Score(subject=subject.name, metric=f"vote_accuracy_k{m}", value=voted / n, ci_low=lov,
                             ci_high=hiv, n=n)]
            data = counts_from_samples(records)
            sub_meta: dict[str, Any] = {"abstentions": data["abstentions"], "lumped": data["lumped"]}
            if m >= 2:
                law = fit_law(data["counts"], kmax=kmax, tie=opts.get("tie", "random"),
                              components=opts.get("components", "auto"), level=opts.get("level", 0.95),
                              seed=opts.get("seed", 0))
                scores += [Score(subject=subject.name, metric="predicted_optimal_k", value=law.k_opt,
                                 ci_low=law.k_interval[0], ci_high=law.k_interval[1], n=n),
                           Score(subject=subject.name, metric="predicted_accuracy_at_optimum", value=law.accuracy_opt, n=n)]
                sub_meta["curve"] = [float(x) for x in law.curve]
                sub_meta["prior"] = law.prior.to_dict()
            else:
                sub_meta["law"] = "not fitted: needs at least 2 samples per query"
            meta[subject.name] = sub_meta
            for r, v in zip(records, votes):
                items.append(ItemRecord(item_id=str(r["id"]), subject=subject.name, score=float(v.answer == r["answer"]),
                                        data={"vote": v.answer, "answers": r["answers"], "reference": r["answer"],
                                              "abstentions": v.abstentions}))
        report(total, total, "done")
        return Report(evaluator=self.name, suite=suite.name, scores=scores, items=items,
                      metadata={"subjects": meta, "samples_per_query": m, "kmax": kmax})
