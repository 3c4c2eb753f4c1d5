"""Settings: environment variables, optionally a YAML file, with errors that name the bad input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from .errors import InvalidInputError
from .validation import invalid_input
from .interfaces.common import SkyplexModel


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "skyplex"


class Settings(SkyplexModel):
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir.")
    default_model: str = "local"
    threads: int | None = Field(default=None, ge=1, description="CPU threads for local compute.")
    job_workers: int = Field(default=2, ge=1, le=64)
    #: per-component options: {"models": {"local": {...}}, "plugins": {"melange": {...}}}
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'skyplex.db'}"

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **overrides: Any) -> Settings:
        """Environment (``SKYPLEX_*``), then the YAML file (``path`` or ``$SKYPLEX_CONFIG``), then overrides."""
        values: dict[str, Any] = {}
        env = {
            "data_dir": "SKYPLEX_DATA_DIR",
            "database_url": "SKYPLEX_DATABASE_URL",
            "default_model": "SKYPLEX_DEFAULT_MODEL",
            "threads": "SKYPLEX_THREADS",
            "job_workers": "SKYPLEX_JOB_WORKERS",
        }
        for key, var in env.items():
            if os.environ.get(var):
                values[key] = os.environ[var]
        path = path or os.environ.get("SKYPLEX_CONFIG")
        if path:
            values.update(_read_yaml(Path(path)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = invalid_input(exc)  # 'job_workers: Input should be ... (got 'many')'
            detail = err.message.removeprefix(str(err.field))
            raise InvalidInputError(
                f"invalid setting '{err.field}'{detail} (from {path or 'the environment'})", field=err.field
            ) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInputError(f"cannot read config file {path}: {exc.strerror}", field="SKYPLEX_CONFIG") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"config file {path} is not valid YAML: {exc}", field="SKYPLEX_CONFIG") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"config file {path} must hold a mapping at top level", field="SKYPLEX_CONFIG")
    return data
