"""The built-in plugin: the kernel's own model backends and CLI commands, registered exactly like an
installed plugin's, by ``"module:attr"`` reference.

Nothing here imports an implementation: ``Kernel()`` registers the backends without loading torch,
httpx or vllm, and the ``skyplex`` command lists its commands without importing their modules. Each
is imported the first time it is used. Its hooks run ``tryfirst`` so a built-in name is claimed
before any installed plugin registers the same name (which is then reported against that plugin).
"""

from __future__ import annotations

import importlib
from typing import Any

from .hookspecs import hookimpl

#: the name the built-in plugin has in `skyplex plugins`, registries and errors
PLUGIN_NAME = "skyplex"

#: model backend name -> (factory reference, description)
MODELS: dict[str, tuple[str, str]] = {
    "local": (
        "skyplex.models.local:LocalBackend",
        "SmolLM2-135M-Instruct on CPU torch, offline, with batching, logprobs and prefix KV reuse",
    ),
    "openai": (
        "skyplex.models.openai_backend:OpenAIBackend",
        "Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs) over HTTP",
    ),
    "vllm": (
        "skyplex.models.vllm_backend:VLLMBackend",
        "vLLM OpenAI server, started from .venv-vllm or attached by URL (continuous batching, prefix caching)",
    ),
}

#: model backend name -> "module:function" telling why it cannot run here (see Registry.unavailable_reason)
CHECKS: dict[str, str] = {"local": "skyplex.builtins:local_unavailable_reason"}

#: CLI command name -> (command reference, one-line help shown by `skyplex --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "jobs": ("skyplex.cli.jobs:jobs", "Long-running work: list, show (and follow) and cancel jobs."),
    "models": ("skyplex.cli.models:models", "Model backends: list them, generate completions, chat."),
    "new-plugin": ("skyplex.cli.new_plugin:new_plugin", "Create a plugin: a skyplex-NAME distribution with tests."),
    "plugins": ("skyplex.cli.plugins:plugins", "List installed plugins: what they provide and what failed."),
    "serve": ("skyplex.cli.serve:serve", "Start the HTTP gateway: REST per plugin kind, jobs, OpenAI API."),
}


#: what the local backend needs installed before it can load (gguf only to convert the packaged weights)
LOCAL_RUNTIME = ("torch", "transformers", "safetensors")


def local_unavailable_reason(backend: Any) -> str | None:
    """Why the local backend cannot run here, without loading it: torch or transformers missing, or
    no converted weights and no weights package to convert from. None when it can run."""
    import importlib.util

    from .errors import ModelUnavailableError
    from .models import _local_weights as weights

    missing = [m for m in LOCAL_RUNTIME if importlib.util.find_spec(m) is None]
    if missing:
        return (f"missing {', '.join(missing)}; install them with `pip install torch==2.13.0` and then "
                "`pip install 'skyplex[local]'`")
    if weights.is_converted(backend.cache_dir):
        return None
    if getattr(backend, "model_dir", None) is not None:
        return f"model_dir {backend.model_dir} holds no converted model; leave model_dir unset to convert the packaged weights"
    if importlib.util.find_spec("gguf") is None:
        return "missing gguf (needed once to convert the packaged weights); install it with `pip install 'skyplex[local]'`"
    try:
        weights.locate_gguf()
    except ModelUnavailableError as exc:
        return exc.message
    return None


def resolve(reference: str) -> Any:
    """The object a ``"package.module:attr"`` reference names, importing its module."""
    module_name, _, attr = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def commands() -> dict[str, Any]:
    """The built-in commands as :class:`~skyplex.cli.lazy.LazyCommand` objects, their modules unimported."""
    from .cli.lazy import LazyCommand

    return {name: LazyCommand(name, ref, short) for name, (ref, short) in COMMANDS.items()}


@hookimpl(tryfirst=True)
def skyplex_register_models(register):
    """Register the built-in model backends by reference."""
    for name, (reference, description) in MODELS.items():
        extra = {"check": CHECKS[name]} if name in CHECKS else {}
        register(name, reference, description=description, **extra)


@hookimpl(tryfirst=True)
def skyplex_register_commands(cli):
    """Add the built-in commands (each imported when it runs)."""
    for command in commands().values():
        cli.add_command(command)
