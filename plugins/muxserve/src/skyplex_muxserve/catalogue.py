"""Model shapes MuxServe's ChatLMSYS workloads use, and how much memory they need on a mesh.

The authors name models by checkpoint path (``/.../huggyllama/llama-13b``); the part after the last
``/`` is the key into the latency profile and this catalogue. KV sizes are computed from the shape,
per GPU of a tensor-parallel mesh, and respect grouped-query attention (KV heads fewer than query
heads): with tensor parallelism wider than the KV heads, every GPU still holds at least one head.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from skyplex.errors import InvalidInputError
from skyplex.interfaces import ModelSpec

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    """Transformer shape: enough for weights, KV bytes per token and the smallest mesh."""

    name: str
    params_b: float
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    dtype_bytes: int = 2

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def weight_gib(self) -> float:
        return self.params_b * 1e9 * self.dtype_bytes / GIB

    def kv_heads_per_gpu(self, tp: int) -> int:
        """KV heads each GPU stores under tensor parallelism ``tp`` (replicated when tp > heads)."""
        return max(1, math.ceil(self.num_kv_heads / tp))

    def kv_bytes_per_token(self, tp: int = 1) -> float:
        """KV-cache bytes one token occupies on each GPU of a ``tp``-wide mesh (keys and values)."""
        return 2.0 * self.num_layers * self.kv_heads_per_gpu(tp) * self.head_dim * self.dtype_bytes

    def kv_bytes_per_token_mesh(self, tp: int = 1) -> float:
        """KV bytes one token occupies summed over the mesh's ``tp`` GPUs."""
        return self.kv_bytes_per_token(tp) * tp

    def to_spec(self) -> ModelSpec:
        """The kernel's ModelSpec for this shape (whole-model KV bytes per token)."""
        return ModelSpec(
            name=self.name,
            params_b=self.params_b,
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            num_kv_heads=self.num_kv_heads,
            head_dim=self.head_dim,
            dtype_bytes=float(self.dtype_bytes),
        )


# huggyllama checkpoints (LLaMA-1): multi-head attention, so KV heads == query heads.
SHAPES: dict[str, ModelShape] = {
    s.name: s
    for s in (
        ModelShape("llama-7b", 6.74, 32, 4096, 32, 32),
        ModelShape("llama-13b", 13.0, 40, 5120, 40, 40),
        ModelShape("llama-30b", 32.5, 60, 6656, 52, 52),
        ModelShape("llama-65b", 65.2, 80, 8192, 64, 64),
        # grouped-query models, so KV sizing can be exercised beyond the paper's set
        ModelShape("llama-2-70b", 69.0, 80, 8192, 64, 8),
        ModelShape("llama-3-8b", 8.0, 32, 4096, 32, 8),
    )
}

_SIZE = re.compile(r"(\d+(?:\.\d+)?)b$", re.IGNORECASE)


def model_key(model: str) -> str:
    """The catalogue/profile key of a model path: its last path component, lower-cased."""
    key = str(model).rstrip("/").split("/")[-1].strip().lower()
    if not key:
        raise InvalidInputError(f"model {model!r} has an empty name", field="model")
    return key


def params_from_name(model: str) -> float:
    """Billions of parameters read from a name such as ``llama-13b``; an error when absent."""
    m = _SIZE.search(model_key(model))
    if not m:
        raise InvalidInputError(
            f"cannot read a model size from {model!r}: expected a name ending in the size, e.g. 'llama-13b'",
            field="model",
        )
    return float(m.group(1))


def shape_of(model: str, extra: dict[str, ModelShape] | None = None) -> ModelShape:
    """The shape of ``model`` (a name or checkpoint path); a clear error for an unknown model."""
    key = model_key(model)
    table = {**SHAPES, **(extra or {})}
    if key in table:
        return table[key]
    params_from_name(model)  # unparseable sizes get the more specific message
    raise InvalidInputError(
        f"unknown model {model!r}: known shapes are {', '.join(sorted(table))}; "
        "add its shape (layers, hidden size, heads, KV heads) before placing it",
        field="model",
    )


def min_mesh_gpus(shape: ModelShape, gpu_memory_gib: float = 80.0, reserve_gib: float = 6.0) -> int:
    """Smallest power-of-two mesh whose memory holds the weights plus a working reserve per GPU.

    LLaMA-30B (61 GiB) needs 2 A100-80GB and LLaMA-65B (121 GiB) 4, as in the paper.
    """
    n = 1
    while n <= 64:
        if shape.weight_gib / n + reserve_gib < gpu_memory_gib * 0.8:
            return n
        n *= 2
    raise InvalidInputError(f"model {shape.name!r} ({shape.weight_gib:.0f} GiB) fits no mesh of <= 64 GPUs", field="model")
