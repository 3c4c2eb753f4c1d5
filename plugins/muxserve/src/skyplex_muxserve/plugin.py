"""skyplex hook implementations for MuxServe. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_allocators(register):
    """Register the ``muxserve`` allocator (colocating LLMs on GPU meshes)."""
    register("muxserve", "skyplex_muxserve.allocator:MuxServeAllocator",
             description="MuxServe: colocate many LLMs on shared GPU meshes by popularity")


@hookimpl
def skyplex_register_schedulers(register):
    """Register the ``adbs`` scheduler (adaptive batches across colocated models)."""
    register("adbs", "skyplex_muxserve.scheduler:ADBSScheduler",
             description="MuxServe ADBS: per-model token quotas, weighted round robin across models")


@hookimpl
def skyplex_configure(config):
    """Note the settings: ``plugins.muxserve-serving`` names the models served through one multiplexer."""
    from .multiplex import remember_settings

    remember_settings(config)


@hookimpl
def skyplex_register_models(register):
    """Register each configured deployment (``plugins.muxserve-serving.models``) as a model backend."""
    from .multiplex import configured_deployments

    for d in configured_deployments():
        register(d.name, "skyplex_muxserve.multiplex:MuxModel",
                 description=f"MuxServe deployment of {d.backend!r} (rate {d.rate:g}/s), scheduled with the others")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex muxserve place|simulate|compare``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add ``POST /plugins/muxserve/place`` and ``POST /plugins/muxserve/simulate``."""
    from .routes import register

    register(router, kernel)
