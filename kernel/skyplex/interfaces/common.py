"""Shared vocabulary every plugin speaks: GPUs, models, request classes, workloads, SLOs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SkyplexModel(BaseModel):
    """Base of every interface model: unknown fields are errors, so typos are caught early."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class GPUType(SkyplexModel):
    """One kind of accelerator and what an hour of it costs."""

    name: str = Field(description="Catalogue name, e.g. 'A100-80GB'.")
    memory_gb: float = Field(gt=0, description="Device memory in GiB.")
    bandwidth_gbps: float | None = Field(default=None, gt=0, description="Memory bandwidth, GB/s.")
    peak_tflops: float | None = Field(default=None, gt=0, description="Dense fp16/bf16 peak, TFLOP/s.")
    price_per_hour: float = Field(ge=0, description="On-demand price in USD per hour.")
    price_source: str | None = Field(default=None, description="Where and when the price was read.")


class ModelSpec(SkyplexModel):
    """The shape of an LLM, enough to estimate its memory and compute needs."""

    name: str
    params_b: float = Field(gt=0, description="Parameters, in billions.")
    num_layers: int | None = Field(default=None, gt=0)
    hidden_size: int | None = Field(default=None, gt=0)
    num_kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    dtype_bytes: float = Field(default=2.0, gt=0, description="Bytes per weight (2 for fp16/bf16).")
    kv_bytes_per_token: float | None = Field(
        default=None, gt=0, description="KV-cache bytes per token; derived from the shape when omitted."
    )

    @model_validator(mode="after")
    def _derive_kv_bytes(self) -> ModelSpec:
        if self.kv_bytes_per_token is None and self.num_layers and self.num_kv_heads and self.head_dim:
            # keys + values, every layer, every KV head
            self.kv_bytes_per_token = 2.0 * self.num_layers * self.num_kv_heads * self.head_dim * self.dtype_bytes
        return self

    @property
    def weight_bytes(self) -> float:
        return self.params_b * 1e9 * self.dtype_bytes


class RequestClass(SkyplexModel):
    """Requests of one size arriving at one rate (a bucket of a workload histogram)."""

    name: str | None = None
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=1)
    rate: float = Field(ge=0, description="Arrival rate in requests per second.")
    model: str | None = Field(default=None, description="Which model serves it, for multi-model workloads.")


class Workload(SkyplexModel):
    """What has to be served: request classes, optionally tied to models."""

    name: str | None = None
    requests: list[RequestClass] = Field(min_length=1)
    models: list[ModelSpec] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def total_rate(self) -> float:
        return sum(r.rate for r in self.requests)


class SLO(SkyplexModel):
    """Latency targets, in seconds; None means no bound on that measure."""

    ttft_s: float | None = Field(default=None, gt=0, description="Time to first token.")
    tpot_s: float | None = Field(default=None, gt=0, description="Time per output token.")
    e2e_s: float | None = Field(default=None, gt=0, description="End-to-end request latency.")
    percentile: float = Field(default=99.0, gt=0, le=100, description="Which latency percentile must meet it.")


class Placement(SkyplexModel):
    """What one group of GPUs runs: models, request classes and their share."""

    gpu_type: str
    count: int = Field(ge=1)
    models: list[str] = Field(default_factory=list)
    request_classes: list[str] = Field(default_factory=list)
    share: dict[str, float] = Field(default_factory=dict, description="Fraction of each class routed here.")
    utilisation: float | None = Field(default=None, ge=0)


class Allocation(SkyplexModel):
    """An allocator's answer: which GPUs, how many, what runs where, what it costs, and why."""

    allocator: str
    gpus: dict[str, int] = Field(description="GPU type name -> count.")
    cost_per_hour: float = Field(ge=0)
    placements: list[Placement] = Field(default_factory=list)
    feasible: bool = True
    explanation: str = ""
    details: dict[str, Any] = Field(default_factory=dict, description="Allocator-specific figures.")

    @property
    def total_gpus(self) -> int:
        return sum(self.gpus.values())
