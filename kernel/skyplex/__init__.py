"""skyplex: a plugin-based microkernel for running LLM systems.

The public facade. Importing it must stay cheap: no torch, no FastAPI, no work at import time. Only
the errors and ``hookimpl`` (what a plugin's ``plugin.py`` needs) load with the package; ``Kernel``,
``Settings``, the interfaces (pydantic models, the costly part) and ``__version__`` load on first
use (PEP 562), so ``from skyplex import Kernel`` and ``skyplex.Completion`` work as always.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ConflictError,
    DuplicateNameError,
    InvalidInputError,
    JobCancelled,
    ModelUnavailableError,
    NotFoundError,
    PluginError,
    SkyplexError,
)
from .hookspecs import hookimpl

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from .config import Settings
    from .interfaces import *  # noqa: F403
    from .kernel import Kernel, Registry
    from .plugins import make_plugin_manager

#: facade names defined outside the interfaces, and the module each comes from
_LAZY = {
    "Kernel": ".kernel",
    "Registry": ".kernel",
    "Settings": ".config",
    "make_plugin_manager": ".plugins",
}

_EAGER = [
    "ConflictError",
    "DuplicateNameError",
    "InvalidInputError",
    "JobCancelled",
    "ModelUnavailableError",
    "NotFoundError",
    "PluginError",
    "SkyplexError",
    "hookimpl",
]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("skyplex")
    except Exception:  # running from a source tree that is not installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    """Load a facade name on first use and keep it, so later lookups cost nothing."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name == "__version__":
        value = _version()
    elif name == "__all__":
        from .interfaces import __all__ as interfaces_all

        value = sorted([*_EAGER, *_LAZY, "__version__"]) + list(interfaces_all)
    elif name.startswith("__"):
        raise AttributeError(f"module 'skyplex' has no attribute {name!r}")
    else:
        interfaces = importlib.import_module(".interfaces", __name__)
        if name in interfaces.__all__:
            value = getattr(interfaces, name)
        else:
            # `import skyplex; skyplex.jobs.X` worked while the facade imported every submodule
            try:
                value = importlib.import_module(f".{name}", __name__)
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module 'skyplex' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})
