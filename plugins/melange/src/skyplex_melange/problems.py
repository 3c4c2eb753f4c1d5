"""Reading allocation problems: skyplex's ``AllocationProblem`` (JSON or YAML) or the paper's JSON shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from skyplex.errors import InvalidInputError
from skyplex.interfaces import AllocationProblem, GPUType
from skyplex.validation import invalid_input

from .catalogue import load_catalogue
from .workload import histogram_workload


def problem_from_paper_format(data: dict[str, Any] | str | Path) -> AllocationProblem:
    """An ``AllocationProblem`` from the paper's JSON shape: ``gpu_info`` {name: {cost, tputs[i][k]}},
    ``workload_distribution`` [i][k] summing to 1, ``total_request_rate``, ``slice_factor``."""
    if not isinstance(data, dict):
        data = json.loads(Path(data).read_text())
    try:
        gpu_info, dist, rate = data["gpu_info"], data["workload_distribution"], float(data["total_request_rate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"paper-format problem needs gpu_info, workload_distribution and "
                                f"total_request_rate: {exc}", field="problem") from exc
    workload = histogram_workload(dist, rate)
    shape = (len(dist), len(dist[0]))
    gpu_types, tables = [], {}
    catalogue = load_catalogue()
    for name, info in gpu_info.items():
        cost = info.get("cost")
        if not isinstance(cost, (int, float)) or cost <= 0:
            raise InvalidInputError(f"GPU {name!r} has cost {cost!r}; prices must be > 0", field=f"gpu_info.{name}.cost")
        tputs = info.get("tputs")
        if not isinstance(tputs, list) or (len(tputs), len(tputs[0]) if tputs else 0) != shape:
            raise InvalidInputError(f"GPU {name!r}: tputs must be a {shape[0]}x{shape[1]} table like the histogram",
                                    field=f"gpu_info.{name}.tputs")
        flat = []
        for i, row in enumerate(tputs):
            for k, t in enumerate(row):
                if t is not None and (not isinstance(t, (int, float)) or t <= 0):
                    # the paper's files use 0 for "cannot serve"; negatives are errors
                    if isinstance(t, (int, float)) and t == 0:
                        t = None
                    else:
                        raise InvalidInputError(f"GPU {name!r} throughput [{i}][{k}] is {t!r}; must be > 0",
                                                field=f"gpu_info.{name}.tputs[{i}][{k}]")
                flat.append(t)
        # the paper's format has no specs; memory is informational here (tables are given), so take the
        # catalogue's when it knows the name
        known = catalogue.gpus.get(name)
        gpu_types.append(GPUType(name=name, memory_gb=known.memory_gb if known else 1.0, price_per_hour=float(cost),
                                 price_source="problem file"))
        tables[name] = flat
    # the paper's histogram has no lengths: its buckets are numbered, which plots must say
    options: dict[str, Any] = {"throughputs": tables, "length_units": "bucket index"}
    if "slice_factor" in data:
        options["slice_factor"] = int(data["slice_factor"])
    return AllocationProblem(workload=workload, gpu_types=gpu_types, options=options)


def load_problem(path: str | Path) -> AllocationProblem:
    """An ``AllocationProblem`` from a JSON or YAML file, in skyplex's shape or the paper's."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"problem file {p} does not exist", field="problem")
    text = p.read_text()
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise InvalidInputError(f"problem file {p} could not be parsed: {exc}", field="problem") from exc
    if isinstance(data, dict) and "gpu_info" in data:
        return problem_from_paper_format(data)
    try:
        return AllocationProblem.model_validate(data)
    except ValidationError as exc:
        err = invalid_input(exc)
        raise InvalidInputError(f"problem file {p}: {err.message}", field=err.field) from None
