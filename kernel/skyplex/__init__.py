"""skyplex: a plugin-based microkernel for running LLM systems.

The public facade. Importing it must stay cheap: no torch, no FastAPI, no work at import time.
"""

from __future__ import annotations

from .config import Settings
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
from .interfaces import *  # noqa: F403  (the interfaces are part of the facade)
from .interfaces import __all__ as _interfaces_all
from .kernel import Kernel, Registry
from .plugins import make_plugin_manager

try:
    from importlib.metadata import version as _version

    __version__ = _version("skyplex")
except Exception:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ConflictError",
    "DuplicateNameError",
    "InvalidInputError",
    "JobCancelled",
    "Kernel",
    "ModelUnavailableError",
    "NotFoundError",
    "PluginError",
    "Registry",
    "Settings",
    "SkyplexError",
    "__version__",
    "hookimpl",
    "make_plugin_manager",
    *_interfaces_all,
]
