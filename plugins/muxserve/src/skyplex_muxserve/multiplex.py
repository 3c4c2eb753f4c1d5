"""Several named models served from one process, with ADBS choosing whose batch runs next.

This is MuxServe's runtime shrunk to one machine: the deployments configured under the kernel
setting ``plugins.muxserve-serving`` are registered as model backends, so the gateway's OpenAI
surface reaches each by its ``model`` name. Every deployment's requests go to one
:class:`Multiplexer`, which owns one worker thread (the device) and per-model queues; the policy
picks the next model and its batch:

* ``adbs``: smooth weighted round robin by request rate, each batch cut to the model's share of a
  token budget, idle models' share flowing to busy ones (:class:`~.scheduler.ADBSDispatcher`);
* ``fcfs``: the model whose oldest request has waited longest runs next.

Deployments name a kernel model backend (default ``local``, the SmolLM2 model) and optional options
for it. Deployments with the same backend and options share one instance, so one copy of the
weights serves several names (MuxServe's memory multiplexing); others get their own instance::

    plugins:
      muxserve-serving:
        policy: adbs
        max_batch: 8
        models:
          - {name: smol-chat, rate: 3.0}
          - {name: smol-brief, rate: 1.0, max_tokens: 16}
          - {name: smol-small, rate: 0.2, options: {max_batch_size: 2}}

A deployment's ``max_tokens`` caps each request's (longer asks are cut to it).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Completion, GenerationParams, ModelBackend, ModelInfo, Prompt

from .scheduler import ADBSDispatcher

#: the settings key (under ``plugins``) holding the served deployments
SETTINGS_KEY = "muxserve-serving"
POLICIES = ("adbs", "fcfs")


@dataclass(frozen=True)
class Deployment:
    """One served name: which kernel backend answers it, with what options, at what request rate."""

    name: str
    rate: float = 1.0
    backend: str = "local"
    options: tuple[tuple[str, Any], ...] = ()
    max_tokens: int | None = None

    @property
    def instance_key(self) -> str:
        """Deployments with equal keys share one backend instance."""
        return json.dumps([self.backend, list(self.options)], default=str, sort_keys=True)


@dataclass(frozen=True)
class ServingConfig:
    """The ``plugins.muxserve-serving`` setting, checked."""

    deployments: tuple[Deployment, ...]
    policy: str = "adbs"
    max_batch: int = 8


def parse_serving(raw: Any) -> ServingConfig:
    """A :class:`ServingConfig` from the setting's mapping; errors name the entry at fault."""
    where = f"plugins.{SETTINGS_KEY}"
    if raw is None:
        return ServingConfig(())
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{where} must be a mapping with 'models' (a list of deployments)", field=where)
    unknown = sorted(str(k) for k in set(raw) - {"models", "policy", "max_batch"})  # YAML keys need not be text
    if unknown:
        raise InvalidInputError(f"{where}: unknown key(s) {unknown}; use models, policy, max_batch", field=where)
    policy = raw.get("policy", "adbs")
    if policy not in POLICIES:
        raise InvalidInputError(f"{where}.policy must be one of {POLICIES}, got {policy!r}", field=f"{where}.policy")
    max_batch = raw.get("max_batch", 8)
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise InvalidInputError(f"{where}.max_batch must be an integer >= 1, got {max_batch!r}", field=f"{where}.max_batch")
    models = raw.get("models") or []
    if not isinstance(models, list):
        raise InvalidInputError(f"{where}.models must be a list of deployments", field=f"{where}.models")
    out, seen = [], set()
    for i, m in enumerate(models):
        at = f"{where}.models[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"].strip():
            raise InvalidInputError(f"{at} needs a 'name' (the model name clients ask for)", field=at)
        name = m["name"].strip()
        bad = sorted(str(k) for k in set(m) - {"name", "rate", "backend", "options", "max_tokens"})
        if bad:
            raise InvalidInputError(f"{at} ({name!r}): unknown key(s) {bad}; use name, rate, backend, options, max_tokens",
                                    field=at)
        if name in seen:
            raise InvalidInputError(f"{at}: model name {name!r} is configured twice", field=at)
        seen.add(name)
        rate = m.get("rate", 1.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise InvalidInputError(f"{at} ({name!r}): rate must be a number > 0, got {rate!r}", field=f"{at}.rate")
        cap = m.get("max_tokens")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise InvalidInputError(f"{at} ({name!r}): max_tokens must be an integer >= 1, got {cap!r}",
                                    field=f"{at}.max_tokens")
        options = m.get("options") or {}
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise InvalidInputError(f"{at} ({name!r}): options must be a mapping of backend option names to values",
                                    field=f"{at}.options")
        backend = m.get("backend", "local")
        if not isinstance(backend, str) or not backend:
            raise InvalidInputError(f"{at} ({name!r}): backend must name a model backend, e.g. 'local'", field=f"{at}.backend")
        out.append(Deployment(name, float(rate), backend, tuple(sorted(options.items())), cap))
    return ServingConfig(tuple(out), policy, max_batch)


# --- registration: the settings reach the model hook through skyplex_configure ----------------
_configured = threading.local()


def remember_settings(config: Any) -> None:
    """Keep the settings the kernel being built passes to ``skyplex_configure`` (same thread, just
    before it asks for model registrations)."""
    _configured.settings = config


def configured_deployments() -> tuple[Deployment, ...]:
    """The deployments of the settings last remembered on this thread (none when unset)."""
    settings = getattr(_configured, "settings", None)
    raw = (getattr(settings, "plugins", None) or {}).get(SETTINGS_KEY)
    return parse_serving(raw).deployments


# --- the multiplexer ------------------------------------------------------------------------------
@dataclass
class _Request:
    prompts: list[Prompt]
    params: GenerationParams
    future: Future
    arrival: float = field(default_factory=time.perf_counter)

    @property
    def tokens(self) -> int:
        return len(self.prompts) * self.params.max_tokens


class Multiplexer:
    """One worker running one batch at a time for several named models.

    ``backends`` maps each model name to the backend that generates for it (several names may share
    one). ``rates`` are the ADBS weights. ``log`` keeps the model of each batch run, in order.
    """

    def __init__(self, backends: dict[str, ModelBackend], rates: dict[str, float], policy: str = "adbs",
                 max_batch: int = 8, token_budget: float | None = None) -> None:
        if policy not in POLICIES:
            raise InvalidInputError(f"unknown policy {policy!r}; one of {POLICIES}", field="policy")
        self.backends = dict(backends)
        self.policy = policy
        self.max_batch = max_batch
        self.queues: OrderedDict[str, deque[_Request]] = OrderedDict((n, deque()) for n in backends)
        # the token budget of one turn: a full batch of default-length requests
        budget = token_budget if token_budget is not None else max_batch * GenerationParams().max_tokens
        self.dispatcher = ADBSDispatcher({n: rates.get(n, 1.0) for n in backends}, max_batch, budget)
        self.log: deque[str] = deque(maxlen=10_000)
        self.batches = {n: 0 for n in backends}
        self._cv = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="muxserve-multiplexer", daemon=True)
        self._worker.start()

    def submit(self, name: str, prompts: Sequence[Prompt], params: GenerationParams) -> Future:
        """Queue one request (several prompts) for model ``name``; the future holds its completions."""
        if name not in self.queues:
            raise InvalidInputError(f"model {name!r} is not served by this multiplexer", field="model")
        fut: Future = Future()
        if not prompts:
            fut.set_result([])
            return fut
        with self._cv:
            if self._closed:
                raise InvalidInputError("the multiplexer is closed", field="model")
            self.queues[name].append(_Request(list(prompts), params, fut))
            self._cv.notify()
        return fut

    def _next(self) -> tuple[str, list[_Request]] | None:
        if self.policy == "adbs":
            return self.dispatcher.next_batch(self.queues, tokens=lambda r: r.tokens)
        live = [m for m in self.queues if self.queues[m]]
        model = min(live, key=lambda m: self.queues[m][0].arrival)
        q = self.queues[model]
        return model, [q.popleft() for _ in range(min(self.max_batch, len(q)))]

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and not any(self.queues.values()):
                    self._cv.wait()
                if self._closed:
                    return
                model, batch = self._next()  # type: ignore[misc]
                self.batches[model] += 1
                self.log.append(model)
            self._generate(self.backends[model], batch)

    @staticmethod
    def _generate(backend: ModelBackend, batch: list[_Request]) -> None:
        # one generate call per distinct set of parameters in the batch, prompts concatenated
        groups: dict[str, list[_Request]] = {}
        for r in batch:
            groups.setdefault(r.params.model_dump_json(), []).append(r)
        for reqs in groups.values():
            live = [r for r in reqs if r.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                outs = backend.generate([p for r in live for p in r.prompts], live[0].params)
            except BaseException as exc:  # noqa: BLE001 - the caller of each request sees its failure
                for r in live:
                    r.future.set_exception(exc)
                continue
            i = 0
            for r in live:
                r.future.set_result(outs[i:i + len(r.prompts)])
                i += len(r.prompts)

    def close(self) -> None:
        """Stop the worker; requests still queued fail with a clear error."""
        with self._cv:
            self._closed = True
            left = [r for q in self.queues.values() for r in q]
            for q in self.queues.values():
                q.clear()
            self._cv.notify_all()
        for r in left:
            if r.future.set_running_or_notify_cancel():
                r.future.set_exception(InvalidInputError("the server is shutting down; retry", field="model"))
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=30)


class _KernelServing:
    """The deployments of one kernel: their backend instances and the one multiplexer."""

    def __init__(self, kernel: Any) -> None:
        self.config = parse_serving((kernel.settings.plugins or {}).get(SETTINGS_KEY))
        self.by_name = {d.name: d for d in self.config.deployments}
        self.kernel = kernel
        self._owned: dict[str, ModelBackend] = {}  # instances this serving created (it closes them)
        self._instances: dict[str, ModelBackend] = {}
        self._mux: Multiplexer | None = None
        self._lock = threading.Lock()

    def backend_of(self, name: str) -> ModelBackend:
        d = self.by_name[name]
        with self._lock:
            key = d.instance_key
            if key not in self._instances:
                if d.backend in self.by_name:
                    raise InvalidInputError(f"deployment {name!r} names another deployment ({d.backend!r}) as its backend",
                                            field=f"plugins.{SETTINGS_KEY}")
                if d.options:
                    inst = self.kernel.models.create(d.backend, **dict(d.options))
                    self._owned[key] = inst
                else:  # the kernel's own instance of that backend, with its settings
                    inst = self.kernel.models.get(d.backend)
                self._instances[key] = inst
            return self._instances[key]

    def multiplexer(self) -> Multiplexer:
        with self._lock:
            mux = self._mux
        if mux is None:
            backends = {d.name: self.backend_of(d.name) for d in self.config.deployments}
            with self._lock:
                if self._mux is None:
                    self._mux = Multiplexer(backends, {d.name: d.rate for d in self.config.deployments},
                                            self.config.policy, self.config.max_batch)
                mux = self._mux
        return mux

    def close(self) -> None:
        with self._lock:
            mux, self._mux = self._mux, None
            owned, self._owned = list(self._owned.values()), {}
        if mux is not None:
            mux.close()
        for inst in owned:
            inst.close()


_servings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_servings_lock = threading.Lock()


def serving_for(kernel: Any) -> _KernelServing:
    """The serving state of ``kernel`` (one per kernel, built on first use)."""
    with _servings_lock:
        if kernel not in _servings:
            _servings[kernel] = _KernelServing(kernel)
        return _servings[kernel]


class MuxModel(ModelBackend):
    """A deployment as the kernel sees it: a model backend whose calls queue in the multiplexer.

    The registry builds it with the kernel and then names it; everything else is looked up by name.
    """

    def __init__(self, *, kernel: Any = None, **options: Any) -> None:
        if kernel is None:
            raise InvalidInputError("a muxserve deployment is built by the kernel from plugins.muxserve-serving",
                                    field="model")
        if options:
            raise InvalidInputError(f"options {sorted(options)} belong under plugins.{SETTINGS_KEY}.models[].options, "
                                    "not models.<name>", field="model")
        self._kernel = kernel
        self._closed = False

    def _serving(self) -> _KernelServing:
        serving = serving_for(self._kernel)
        if self.name not in serving.by_name:
            raise InvalidInputError(f"model {self.name!r} is not a deployment of plugins.{SETTINGS_KEY}", field="model")
        return serving

    def _backend(self) -> ModelBackend:
        return self._serving().backend_of(self.name)

    def info(self) -> ModelInfo:
        serving = self._serving()
        d = serving.by_name[self.name]
        base = self._backend().info()
        return ModelInfo(backend="muxserve", model=base.model, context_length=base.context_length,
                         supports_logprobs=base.supports_logprobs, supports_prefix_reuse=base.supports_prefix_reuse,
                         supports_constraints=base.supports_constraints,
                         # the multiplexer batches across requests itself; a per-name batcher would only delay
                         details={"coalesce_requests": False, "served_by": d.backend, "rate": d.rate,
                                  "max_tokens": d.max_tokens, "policy": serving.config.policy,
                                  "shares_weights_with": sorted(o.name for o in serving.config.deployments
                                                                if o.instance_key == d.instance_key and o.name != d.name)})

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        serving = self._serving()
        params = params or GenerationParams()
        cap = serving.by_name[self.name].max_tokens
        if cap is not None and params.max_tokens > cap:
            params = params.model_copy(update={"max_tokens": cap})
        return serving.multiplexer().submit(self.name, prompts, params).result()

    def count_tokens(self, text: str) -> int:
        return self._backend().count_tokens(text)

    def tokenize(self, text: str) -> list[int]:
        return self._backend().tokenize(text)

    def detokenize(self, token_ids: Sequence[int]) -> str:
        return self._backend().detokenize(token_ids)

    def tokenizer_info(self) -> dict[str, Any]:
        return self._backend().tokenizer_info()

    def close(self) -> None:
        # the first deployment closed (the kernel closes them all) stops the shared multiplexer
        if not self._closed:
            self._closed = True
            with _servings_lock:
                serving = _servings.pop(self._kernel, None)
            if serving is not None:
                serving.close()
