"""Request and response bodies of the gateway's own routes (the interface models cover the rest)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..interfaces import ScheduledRequest, SkyplexModel, Subject, Suite

T = TypeVar("T")


class ListResponse(BaseModel, Generic[T]):
    """A list, wrapped so it can grow fields (paging) without breaking clients."""

    object: Literal["list"] = "list"
    data: list[T]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class RegistryEntry(BaseModel):
    """One registered name of a kind; plugins may add their own descriptive fields."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    plugin: str = Field(description="The plugin that registered it.")
    description: str = ""


class PluginLoadErrorInfo(BaseModel):
    plugin: str
    where: str = Field(description="'import', 'register', 'validate' or the hook that raised.")
    error: str


class PluginInfo(BaseModel):
    name: str
    module: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    kinds: list[str] = Field(default_factory=list)
    provides: dict[str, list[str]] = Field(default_factory=dict, description="kind -> names it registered.")
    hooks: list[str] = Field(default_factory=list)
    errors: list[PluginLoadErrorInfo] = Field(default_factory=list)


class PluginsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[PluginInfo]
    errors: list[PluginLoadErrorInfo] = Field(
        default_factory=list, description="Every load or hook failure, including plugins that never loaded."
    )


class PlanRequest(SkyplexModel):
    requests: list[ScheduledRequest] = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class EvaluationRunRequest(SkyplexModel):
    subjects: list[Subject] = Field(min_length=1)
    suite: Suite

