"""Every hook skyplex calls. These docstrings are the reference; docs/hooks.md mirrors them (tested).

Registry hooks receive a ``register(name, factory, **meta)`` callback rather than returning values, so
the kernel knows which plugin registered what and can reject duplicate names naming both plugins.
A factory is a class or callable returning an instance of the kind's interface, or a
``"package.module:attr"`` reference to one (imported on first use, so registering stays cheap); it is
called lazily, with ``kernel=`` when it accepts that keyword, plus any options the caller gives.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("skyplex")
hookimpl = pluggy.HookimplMarker("skyplex")


@hookspec
def skyplex_register_allocators(register):
    """Register allocators (GPU provisioning, model placement): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_schedulers(register):
    """Register schedulers (request ordering, batching, dedup): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_executors(register):
    """Register executors (actions with undo): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_auditors(register):
    """Register auditors (commitments and proofs): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_evaluators(register):
    """Register evaluators (scores with uncertainty): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_trainers(register):
    """Register trainers (dataset builds, fine-tuning): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_inspectors(register):
    """Register inspectors (program introspection): ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_models(register):
    """Register model backends: ``register(name, factory, **meta)``."""


@hookspec
def skyplex_register_commands(cli):
    """Add click commands or groups to the ``skyplex`` CLI group ``cli``."""


@hookspec
def skyplex_register_routes(router, kernel):
    """Add FastAPI routes to ``router``, which the gateway mounts under ``/plugins/<plugin name>``."""


@hookspec(historic=True)
def skyplex_configure(config):
    """Receive the loaded :class:`skyplex.config.Settings` (also replayed to late-registered plugins)."""


@hookspec
def skyplex_startup(kernel):
    """The kernel is ready (registries filled); open resources here, not at import time."""


@hookspec
def skyplex_shutdown(kernel):
    """The kernel is closing; release what ``skyplex_startup`` opened."""


@hookspec
def skyplex_job_finished(kernel, job):
    """A job reached a final state (succeeded, failed or cancelled); ``job`` is a :class:`skyplex.jobs.Job`."""


@hookspec
def skyplex_action_executed(kernel, record):
    """An executor changed an action's state; ``record`` is an :class:`~skyplex.interfaces.ActionRecord`."""
