"""The GPU catalogue (specs and on-demand prices, with their source and date) and model presets.

The shipped catalogue is ``data/catalogue.json``. Users override it three ways: pass their own
``GPUType`` objects in the problem, point ``options.catalogue`` / ``--catalogue`` at a JSON file of
the same shape, or override single prices (``options.prices``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import GPUType, ModelSpec

CATALOGUE_FORMAT = "skyplex-melange-catalogue"


@dataclass(frozen=True)
class Catalogue:
    """GPU types and model presets by name.

    ``multi_gpu_prices`` holds, per GPU type, the price per GPU of the cheapest host with several of
    them (and where it was read). A tensor-parallel replica needs all its GPUs in one host -- its
    layers exchange activations every step -- so a group of 2+ GPUs cannot be made of one-GPU
    instances and is priced at this rate; types without an entry use ``price_per_hour``.
    """

    gpus: dict[str, GPUType]
    models: dict[str, ModelSpec] = field(default_factory=dict)
    source: str = "built-in"
    multi_gpu_prices: dict[str, tuple[float, str]] = field(default_factory=dict)

    def group_price(self, gpu: GPUType, gpus_per_unit: int) -> float:
        """Hourly price of one replica of ``gpus_per_unit`` GPUs of type ``gpu`` in one host."""
        if gpus_per_unit > 1 and gpu.name in self.multi_gpu_prices:
            return gpus_per_unit * self.multi_gpu_prices[gpu.name][0]
        return gpus_per_unit * gpu.price_per_hour

    def gpu(self, name: str, *, field_name: str = "gpu") -> GPUType:
        """The catalogue entry for ``name`` (case-insensitive); an error listing the known names."""
        if name in self.gpus:
            return self.gpus[name]
        folded = {k.lower(): v for k, v in self.gpus.items()}
        if name.lower() in folded:
            return folded[name.lower()]
        raise InvalidInputError(
            f"unknown GPU type {name!r}; the catalogue ({self.source}) has {', '.join(sorted(self.gpus))}. "
            "Pass a full GPUType (memory, bandwidth, TFLOP/s, price) in gpu_types to use another.",
            field=field_name,
        )

    def model(self, name: str) -> ModelSpec:
        """A model preset by name, e.g. ``llama-2-7b``."""
        try:
            return self.models[name.lower()]
        except KeyError:
            raise InvalidInputError(
                f"unknown model preset {name!r}; presets are {', '.join(sorted(self.models))}. "
                "Give a ModelSpec (params, layers, KV bytes per token) instead.",
                field="model",
            ) from None

    def with_prices(self, prices: dict[str, float]) -> Catalogue:
        """A copy with some prices overridden (names must exist; prices must be positive)."""
        gpus = dict(self.gpus)
        for name, price in prices.items():
            gpu = self.gpu(name, field_name=f"options.prices.{name}")
            if not isinstance(price, (int, float)) or price <= 0:
                raise InvalidInputError(
                    f"price for {name!r} must be a positive number of USD per hour, got {price!r}",
                    field=f"options.prices.{name}",
                )
            gpus[gpu.name] = gpu.model_copy(update={"price_per_hour": float(price), "price_source": "user override"})
        return Catalogue(gpus, self.models, self.source, self.multi_gpu_prices)


def _parse(data: dict[str, Any], source: str) -> Catalogue:
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), dict):
        raise InvalidInputError(f"catalogue {source} needs a 'gpus' object of name -> spec", field="catalogue")
    gpus: dict[str, GPUType] = {}
    multi: dict[str, tuple[float, str]] = {}
    for name, spec in data["gpus"].items():
        spec = dict(spec) if isinstance(spec, dict) else spec
        if isinstance(spec, dict) and "multi_gpu_price_per_hour" in spec:
            price = spec.pop("multi_gpu_price_per_hour")
            source_note = spec.pop("multi_gpu_price_source", "")
            if not isinstance(price, (int, float)) or isinstance(price, bool) or not price > 0:
                raise InvalidInputError(f"catalogue {source}: GPU {name!r} has multi_gpu_price_per_hour {price!r}; "
                                        "it must be > 0", field=f"gpus.{name}.multi_gpu_price_per_hour")
            multi[name] = (float(price), str(source_note))
        try:
            gpus[name] = GPUType(name=name, **spec)
        except Exception as exc:  # pydantic's message names the field
            raise InvalidInputError(f"catalogue {source}: GPU {name!r} is invalid: {exc}", field=f"gpus.{name}") from exc
    models = {}
    for name, spec in (data.get("models") or {}).items():
        models[name.lower()] = ModelSpec(name=name, **spec)
    return Catalogue(gpus, models, source, multi)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The built-in catalogue, or the one in ``path`` (same JSON shape as ``data/catalogue.json``).

    A user file's models are merged over the built-in presets, so a GPU-only file still finds them.
    """
    builtin_text = resources.files("skyplex_melange").joinpath("data/catalogue.json").read_text()
    builtin = _parse(json.loads(builtin_text), "built-in")
    if path is None:
        return builtin
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"catalogue file {p} does not exist", field="catalogue") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"catalogue file {p} is not valid JSON: {exc}", field="catalogue") from exc
    user = _parse(data, str(p))
    return Catalogue(user.gpus, {**builtin.models, **user.models}, str(p), user.multi_gpu_prices)
