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


class ADBSDispatcher:
    """Stateful ADBS choice of the next batch from per-model queues (used by ``plan`` and ``serving``).

    Smooth weighted round robin: every call, each model with work gains credit equal to its share of
    the busy models' weight (idle models' weight flows to the busy ones); the model with the most
    credit runs and pays one turn. Its batch takes queued requests oldest first, up to ``max_batch``
    and its share of ``token_budget``.
    """

    def __init__(self, weights: dict[str, float], max_batch: int = 8, token_budget: float = 4096) -> None:
        if max_batch < 1:
            raise InvalidInputError("max_batch must be >= 1", field="options.max_batch")
        self.weights = dict(weights)
        self.max_batch = max_batch
        self.token_budget = token_budget
        self.credit: dict[str, float] = {m: 0.0 for m in weights}
        self.turns: dict[str, int] = {m: 0 for m in weights}

    def next_batch(self, queues: dict[str, deque], tokens=_tokens) -> tuple[str, list] | None:
        """Pop and return (model, requests) to run next; None when every queue is empty."""
        live = [m for m in queues if queues[m]]
        if not live:
            return None
        for m in live:
            self.weights.setdefault(m, 1.0)
            self.credit.setdefault(m, 0.0)
            self.turns.setdefault(m, 0)
        total = sum(self.weights[m] for m in live)
        for m in live:
            self.credit[m] += self.weights[m] / total
        order = list(queues)
        m = max(live, key=lambda k: (self.credit[k], -order.index(k)))
        self.credit[m] -= 1.0
        quota = self.token_budget * self.weights[m] / total
        batch, used = [], 0
        q = queues[m]
        while q and len(batch) < self.max_batch and (not batch or used + tokens(q[0]) <= quota):
            r = q.popleft()
            used += tokens(r)
            batch.append(r)
        self.turns[m] += 1
        return m, batch


class ADBSScheduler(Scheduler):
    name = "adbs"

    def plan(self, requests: Sequence[ScheduledRequest], options: dict[str, Any] | None = None) -> Schedule:
        opts = options or {}
        queues: OrderedDict[str, deque] = OrderedDict()
        for r in requests:
            queues.setdefault(r.model or "default", deque()).append(r)
        weights = self._weights(queues, opts)
        disp = ADBSDispatcher(weights, int(opts.get("max_batch", 8)), float(opts.get("token_budget", 4096)))
        order, batches = [], []
        while (nxt := disp.next_batch(queues)) is not None:
            ids = [r.id for r in nxt[1]]
            order.extend(ids)
            batches.append(ids)
        n = max(len(batches), 1)
        metrics = {f"batch_share_{m}": disp.turns.get(m, 0) / n for m in weights}
        return Schedule(scheduler=self.name, order=order, batches=batches, metrics=metrics,
                        details={"weights": weights, "batches_per_model": dict(disp.turns)})

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
