"""The ``adbs`` scheduler: which model's batch runs next when several LLMs share a server.

This is the request-level face of MuxServe's adaptive batch scheduling. Each model gets a token
quota in proportion to its weight (``options['quotas']``, else its request rate in
``options['rates']``, else its share of the queue). Batches are formed per model, in arrival
order, up to ``max_batch`` requests and the model's remaining quota; models take turns by smooth
weighted round robin, so a popular model runs more batches but a rare one is never starved. A model
whose queue empties gives its quota back to the others (the adaptive part). The simulator's
engine runs the same policy against time; this plans a given queue.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Schedule, ScheduledRequest, Scheduler


def _tokens(r: ScheduledRequest) -> int:
    meta = r.metadata or {}
    if "tokens" in meta:
        return max(1, int(meta["tokens"]))
    return max(1, len((r.prompt or "").split()) + int(meta.get("max_tokens", 16)))


class ADBSScheduler(Scheduler):
    name = "adbs"

    def plan(self, requests: Sequence[ScheduledRequest], options: dict[str, Any] | None = None) -> Schedule:
        opts = options or {}
        max_batch = int(opts.get("max_batch", 8))
        if max_batch < 1:
            raise InvalidInputError("max_batch must be >= 1", field="options.max_batch")
        queues: OrderedDict[str, deque] = OrderedDict()
        for r in requests:
            queues.setdefault(r.model or "default", deque()).append(r)
        weights = self._weights(queues, opts)
        budget = float(opts.get("token_budget", 4096))
        credit = {m: 0.0 for m in queues}
        order, batches, turns = [], [], {m: 0 for m in queues}
        while any(queues.values()):
            live = [m for m in queues if queues[m]]
            total = sum(weights[m] for m in live)  # idle models' weight flows to the busy ones
            for m in live:
                credit[m] += weights[m] / total
            m = max(live, key=lambda k: (credit[k], -list(queues).index(k)))
            credit[m] -= 1.0
            quota = budget * weights[m] / total
            batch, used = [], 0
            q = queues[m]
            while q and len(batch) < max_batch and (not batch or used + _tokens(q[0]) <= quota):
                r = q.popleft()
                used += _tokens(r)
                batch.append(r.id)
            order.extend(batch)
            batches.append(batch)
            turns[m] += 1
        n = max(len(batches), 1)
        metrics = {f"batch_share_{m}": turns[m] / n for m in queues}
        return Schedule(scheduler=self.name, order=order, batches=batches, metrics=metrics,
                        details={"weights": weights, "batches_per_model": turns})

    @staticmethod
    def _weights(queues: dict[str, deque], opts: dict[str, Any]) -> dict[str, float]:
        given = opts.get("quotas") or opts.get("rates")
        if given:
            out = {}
            for m in queues:
                w = given.get(m)
                if w is None:
                    raise InvalidInputError(f"no quota/rate given for model {m!r}", field=f"options.quotas.{m}")
                if float(w) <= 0:
                    raise InvalidInputError(f"quota/rate of model {m!r} must be > 0, got {w}", field=f"options.quotas.{m}")
                out[m] = float(w)
            return out
        return {m: float(len(q)) for m, q in queues.items()}
