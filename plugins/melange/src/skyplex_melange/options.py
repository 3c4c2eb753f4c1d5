"""``AllocationProblem.options`` understood by the ``melange`` allocator, validated with errors that
name the option (``options.slice_factor: ...``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from skyplex.interfaces import SLO, SkyplexModel, Workload
from skyplex.validation import validate


class MelangeOptions(SkyplexModel):
    """``AllocationProblem.options`` understood by ``melange`` (unknown keys are errors)."""

    slice_factor: int = Field(default=8, ge=1, le=4096, description="Slices per bucket (S); 1 = whole buckets.")
    solver: Literal["cbc", "highs"] = "cbc"
    time_limit_s: float | None = Field(default=60.0, gt=0)
    gap: float = Field(default=0.0, ge=0, lt=1, description="Accepted relative MIP gap (0 = optimum).")
    throughputs: dict[str, list[float | None]] | None = Field(
        default=None,
        description="GPU type -> max req/s of one GPU per request class (workload order), within the "
        "SLO; null = cannot serve.",
    )
    profile: list[str | dict[str, Any]] | None = Field(
        default=None, description="Measured profiles: file paths (server-side) or inline {header, points}."
    )
    availability: dict[str, int] = Field(default_factory=dict, description="GPU type -> most GPUs to be had.")
    gpu_names: list[str] = Field(default_factory=list, description="Catalogue GPU names, when gpu_types is empty.")
    catalogue: str | None = Field(default=None, description="Path of a catalogue JSON file to use instead.")
    prices: dict[str, float] = Field(default_factory=dict, description="Price overrides, USD/h per GPU.")
    multi_gpu_prices: dict[str, float] = Field(
        default_factory=dict, description="USD/h per GPU in a multi-GPU host, for tensor-parallel groups (default: "
        "the catalogue's, else the one-GPU price).")
    model_name: str | None = Field(default=None, description="A model preset (e.g. 'llama-2-7b') when model is unset.")
    slo_tiers: dict[str, SLO] = Field(default_factory=dict, description="Named SLOs for tiers of requests.")
    request_tiers: dict[str, str] = Field(default_factory=dict, description="Request class name -> SLO tier.")
    period_rates: list[float] | None = Field(default=None, description="Total req/s per period (e.g. hourly).")
    period_hours: float = Field(default=1.0, gt=0)
    tensor_parallel: Literal["auto"] | int = Field(
        default="auto", description="GPUs per replica for roofline offers; 'auto' offers the smallest power-of-two "
        "group that holds the weights and twice that."
    )
    roofline: dict[str, float] = Field(default_factory=dict, description="RooflineAssumptions overrides.")
    plot: bool = Field(default=True, description="Put plot data (cost curve, heatmap) in details.")
    plot_points: int = Field(default=6, ge=2, le=50)
    length_units: Literal["tokens", "bucket index"] = Field(
        default="tokens", description="What the request classes' input/output lengths count: tokens, or (the "
        "paper's histogram format) the index of the length bucket; plots label their axes by it.")


def parse_options(raw: dict[str, Any]) -> MelangeOptions:
    """The options, validated; a bad one raises ``InvalidInputError`` naming ``options.<field>``."""
    return validate(MelangeOptions, raw, where="options")


def bucket_names(workload: Workload) -> list[str]:
    """A unique name per request class: its own name, else its lengths (``in512/out128``)."""
    names, seen = [], set()
    for i, r in enumerate(workload.requests):
        name = r.name or f"in{r.input_tokens}/out{r.output_tokens}"
        if name in seen:
            name = f"{name}#{i}"
        seen.add(name)
        names.append(name)
    return names
