"""Errors meant for people: each says what was wrong, with which input, and what to do."""

from __future__ import annotations


class SkyplexError(Exception):
    """Base of every error skyplex raises on purpose.

    ``field`` names the input at fault (a JSON path, a CLI option, an env var) when there is one;
    the gateway turns it into the ``param`` of its JSON error body and the CLI prints it.
    """

    status_code = 500
    error_type = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        return {"message": self.message, "type": self.error_type, "param": self.field, "code": None}


class InvalidInputError(SkyplexError, ValueError):
    """The caller sent something malformed or out of range."""

    status_code = 400
    error_type = "invalid_request_error"


class NotFoundError(SkyplexError, KeyError):
    """A named thing (plugin, backend, job, model) does not exist."""

    status_code = 404
    error_type = "not_found_error"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class ConflictError(SkyplexError):
    """The request conflicts with the current state (e.g. cancelling a job that already ended)."""

    status_code = 409
    error_type = "conflict_error"


class DuplicateNameError(ConflictError):
    """Two plugins registered the same name for the same kind."""


class PluginError(SkyplexError):
    """A plugin failed to import or raised inside a hook."""

    status_code = 500
    error_type = "plugin_error"


class ModelUnavailableError(SkyplexError):
    """A model backend cannot run here (missing weights, missing optional dependency)."""

    status_code = 503
    error_type = "model_unavailable"


class JobCancelled(SkyplexError):
    """Raised inside a job's function when its job was cancelled."""

    status_code = 409
    error_type = "cancelled"
