"""MuxServe's workload and placement YAML, its measured results, and the kernel's vocabulary.

A *workload* names LLMs (a model each, a request rate) and a cluster (nodes x GPUs). A *placement*
is a list of meshes; each mesh has a GPU count and the LLMs colocated on it with their SM shares
(prefill, decode), in the authors' per-mesh YAML format. Every malformed entry is refused with a
message naming it; nothing is dropped silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from skyplex.errors import InvalidInputError
from skyplex.interfaces import Placement, RequestClass, Workload

from . import checks
from .catalogue import model_key, shape_of

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when libyaml is there

# ChatLMSYS day-55 averages (the data set's README); the authors' code hard-codes other values.
DEFAULT_PROMPT_LEN = 100.2
DEFAULT_OUTPUT_LEN = 261.3


@dataclass(frozen=True)
class LLM:
    """One served LLM: a name, the model it runs, its mean request rate and request sizes."""

    name: str
    model: str  # catalogue/profile key, e.g. 'llama-13b'
    rate: float
    avg_prompt_len: float = DEFAULT_PROMPT_LEN
    avg_output_len: float = DEFAULT_OUTPUT_LEN
    path: str = ""


@dataclass
class MuxWorkload:
    """LLMs to serve and the cluster to serve them on."""

    llms: list[LLM]
    nnodes: int = 1
    gpus_per_node: int = 8
    name: str = "workload"

    @property
    def total_gpus(self) -> int:
        return self.nnodes * self.gpus_per_node

    def by_name(self) -> dict[str, LLM]:
        return {m.name: m for m in self.llms}

    def with_cluster(self, nnodes: int, gpus_per_node: int) -> MuxWorkload:
        return replace(self, nnodes=nnodes, gpus_per_node=gpus_per_node)

    def to_workload(self) -> Workload:
        """The kernel's Workload: one request class per LLM, one ModelSpec per LLM (its model's shape)."""
        requests = [
            RequestClass(name=m.name, input_tokens=round(m.avg_prompt_len), output_tokens=max(1, round(m.avg_output_len)),
                         rate=m.rate, model=m.name)
            for m in self.llms
        ]
        models = [shape_of(m.model).to_spec().model_copy(update={"name": m.name}) for m in self.llms]
        meta = {"muxserve_models": {m.name: m.model for m in self.llms},
                "cluster": {"nnodes": self.nnodes, "ngpus_per_node": self.gpus_per_node}}
        return Workload(name=self.name, requests=requests, models=models, metadata=meta)

    @classmethod
    def from_workload(cls, workload: Workload, nnodes: int | None = None, gpus_per_node: int | None = None) -> MuxWorkload:
        """Back from the kernel's Workload (request classes tied to LLMs; models from metadata or names)."""
        models = workload.metadata.get("muxserve_models") or {}
        cluster = workload.metadata.get("cluster") or {}
        if not isinstance(models, dict):
            raise InvalidInputError("metadata.muxserve_models must map LLM names to models", field="metadata.muxserve_models")
        if not isinstance(cluster, dict):
            raise InvalidInputError("metadata.cluster must be a mapping of nnodes, ngpus_per_node", field="metadata.cluster")
        llms = []
        for i, rc in enumerate(workload.requests):
            name = rc.model or rc.name or f"llm-{i}"
            model = models.get(name, rc.model or "")
            _check_rate(name, rc.rate)
            llms.append(LLM(name=name, model=_check_model(name, model, f"metadata.muxserve_models[{name}]"), rate=rc.rate,
                            avg_prompt_len=float(max(rc.input_tokens, 1)), avg_output_len=float(rc.output_tokens)))
        nn = nnodes if nnodes is not None else cluster.get("nnodes", 1)
        per = gpus_per_node if gpus_per_node is not None else cluster.get("ngpus_per_node", 8)
        wl = cls(llms, checks.integer(nn, "metadata.cluster.nnodes", "cluster nnodes", lo=1, hi=checks.MAX_NODES),
                 checks.integer(per, "metadata.cluster.ngpus_per_node", "cluster ngpus_per_node", lo=1,
                                hi=checks.MAX_GPUS_PER_NODE),
                 name=workload.name or "workload")
        validate_workload(wl)
        return wl


@dataclass
class MeshLLM:
    """One LLM on a mesh: SM shares for its prefill and decode processes, its batch cap."""

    name: str
    model: str
    prefill_sm: int = 100
    decode_sm: int = 90
    max_num_seqs: int = 256


@dataclass
class Mesh:
    """A group of GPUs running one or more LLMs together."""

    ngpus: int
    llms: list[MeshLLM] = field(default_factory=list)
    kv_fraction: float | None = None  # the authors' gpu_memory_utilization: KV share of each GPU
    node: int | None = None


@dataclass
class PlacementPlan:
    """Meshes and the LLMs on each; ``mode`` says how colocated LLMs share compute."""

    meshes: list[Mesh]
    mode: str = "flexsm"  # flexsm (spatial-temporal, MuxServe), temporal (time slicing), spatial

    @property
    def total_gpus(self) -> int:
        return sum(m.ngpus for m in self.meshes)

    def llm_names(self) -> list[str]:
        return [x.name for m in self.meshes for x in m.llms]

    def to_placements(self, gpu_type: str = "A100-80GB") -> list[Placement]:
        """The kernel's Placement list: one per mesh, models = LLM names, SM shares as share."""
        return [
            Placement(gpu_type=gpu_type, count=m.ngpus, models=[x.name for x in m.llms],
                      request_classes=[x.name for x in m.llms],
                      share={x.name: x.decode_sm / 100.0 for x in m.llms})
            for m in self.meshes
        ]

    def with_shares(self, shares: dict[str, tuple[int, int]]) -> PlacementPlan:
        """A copy with (prefill, decode) SM shares replaced for the LLMs named in ``shares``."""
        meshes = [replace(m, llms=[replace(x, prefill_sm=shares.get(x.name, (x.prefill_sm, x.decode_sm))[0],
                                             decode_sm=shares.get(x.name, (x.prefill_sm, x.decode_sm))[1]) for x in m.llms])
                  for m in self.meshes]
        return PlacementPlan(meshes, self.mode)


# ------------------------------------------------------------------------------------------------
def _yaml(path: Path) -> Any:
    try:
        return yaml.load(Path(path).read_text(), Loader=_LOADER)
    except FileNotFoundError:
        raise InvalidInputError(f"file {str(path)!r} does not exist", field=str(path)) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise InvalidInputError(f"{str(path)!r} is not valid YAML ({first})", field=str(path)) from None


def _check_rate(name: str, rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, str)):
        raise InvalidInputError(f"LLM {name!r}: rate {rate!r} is not a number", field=f"models[{name}].rate")
    try:
        r = float(rate)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"LLM {name!r}: rate {rate!r} is not a number", field=f"models[{name}].rate") from None
    if not math.isfinite(r) or r <= 0:
        raise InvalidInputError(f"LLM {name!r}: rate must be > 0 requests/s, got {rate!r}", field=f"models[{name}].rate")
    return r


def _check_model(name: str, model: Any, field: str) -> str:
    """The catalogue key of an LLM's model, refusing non-strings and unknown shapes with the LLM named."""
    if not isinstance(model, str):
        raise InvalidInputError(f"LLM {name!r}: model must be a name or checkpoint path, got {model!r}", field=field)
    try:
        key = model_key(model)
        shape_of(key)
    except InvalidInputError as exc:
        raise InvalidInputError(f"LLM {name!r}: {exc.message}", field=field) from None
    return key


def _length(value: Any, field: str, what: str) -> float:
    return checks.number(value, field, what, lo=0, lo_open=True, hi=checks.MAX_TOKENS)


def validate_workload(wl: MuxWorkload) -> None:
    """Refuse an empty workload, duplicate names, non-positive rates, unknown models, bad clusters."""
    if not wl.llms:
        raise InvalidInputError("the workload lists no LLMs", field="models")
    if len(wl.llms) > checks.MAX_LLMS:
        raise InvalidInputError(f"the workload lists {len(wl.llms)} LLMs; at most {checks.MAX_LLMS} are placed at once",
                                field="models")
    checks.integer(wl.nnodes, "cluster.nnodes", "cluster nnodes", lo=1, hi=checks.MAX_NODES)
    checks.integer(wl.gpus_per_node, "cluster.ngpus_per_node", "cluster ngpus_per_node", lo=1, hi=checks.MAX_GPUS_PER_NODE)
    seen = set()
    for m in wl.llms:
        if m.name in seen:
            raise InvalidInputError(f"LLM name {m.name!r} appears twice", field=f"models[{m.name}]")
        seen.add(m.name)
        _check_rate(m.name, m.rate)
        _check_model(m.name, m.model, f"models[{m.name}].model")
        for what, v in (("avg_prompt_len", m.avg_prompt_len), ("avg_output_len", m.avg_output_len)):
            _length(v, f"models[{m.name}].{what}", f"LLM {m.name!r}: {what}")


_WORKLOAD_KEYS = ("cluster", "models", "avg_prompt_len", "avg_output_len")
_LLM_KEYS = ("name", "model", "rate", "avg_prompt_len", "avg_output_len")


def parse_workload(data: Any, source: str = "workload") -> MuxWorkload:
    """A MuxWorkload from the authors' workload mapping (``cluster``, ``models``: name, model, rate)."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source}: expected a mapping with 'cluster' and 'models'", field=source)
    checks.known_keys(data, _WORKLOAD_KEYS, "workload", source)
    cluster = data.get("cluster")
    cluster = {} if cluster is None else cluster  # absent: one node of 8 GPUs, the authors' default
    if not isinstance(cluster, dict):
        raise InvalidInputError(f"{source}: 'cluster' must be a mapping of nnodes, ngpus_per_node", field="cluster")
    checks.known_keys(cluster, ("nnodes", "ngpus_per_node"), "cluster", f"{source}: cluster")
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(f"{source}: 'models' must be a non-empty list of {{name, model, rate}}", field="models")
    if len(entries) > checks.MAX_LLMS:
        raise InvalidInputError(f"{source}: {len(entries)} LLMs listed; at most {checks.MAX_LLMS} are placed at once",
                                field="models")
    prompt = _length(data.get("avg_prompt_len", DEFAULT_PROMPT_LEN), "avg_prompt_len", f"{source}: avg_prompt_len")
    output = _length(data.get("avg_output_len", DEFAULT_OUTPUT_LEN), "avg_output_len", f"{source}: avg_output_len")
    llms = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "model" not in e or "rate" not in e:
            raise InvalidInputError(f"{source}: models[{i}] must have 'name', 'model' and 'rate'", field=f"models[{i}]")
        checks.known_keys(e, _LLM_KEYS, f"models[{i}]", f"{source}: models[{i}]")
        name = checks.name(e.get("name", f"llm-{i}"), f"models[{i}].name", f"{source}: models[{i}].name")
        llms.append(LLM(name=name, model=_check_model(name, e["model"], f"models[{i}].model"),
                        rate=_check_rate(name, e["rate"]),
                        avg_prompt_len=_length(e.get("avg_prompt_len", prompt), f"models[{i}].avg_prompt_len",
                                               f"LLM {name!r}: avg_prompt_len"),
                        avg_output_len=_length(e.get("avg_output_len", output), f"models[{i}].avg_output_len",
                                               f"LLM {name!r}: avg_output_len"),
                        path=str(e["model"])))
    nnodes = checks.integer(cluster.get("nnodes", 1), "cluster.nnodes", f"{source}: cluster nnodes",
                            lo=1, hi=checks.MAX_NODES)
    per_node = checks.integer(cluster.get("ngpus_per_node", 8), "cluster.ngpus_per_node",
                              f"{source}: cluster ngpus_per_node", lo=1, hi=checks.MAX_GPUS_PER_NODE)
    wl = MuxWorkload(llms, nnodes, per_node, name=Path(source).stem)
    validate_workload(wl)
    return wl


def load_workload(path: str | Path) -> MuxWorkload:
    """Read an authors'-format workload YAML file."""
    return parse_workload(_yaml(Path(path)), str(path))


_MESH_KEYS = ("num_gpus", "max_num_seqs", "overload_threshold", "gpu_memory_utilization", "models", "workloads")
_MESH_LLM_KEYS = ("name", "model", "tensor_parallel_size", "pipeline_parallel_size", "placement", "mps_percentage",
                  "model_dtype", "max_num_seqs")


def parse_mesh(data: Any, source: str = "mesh") -> Mesh:
    """One mesh from the authors' per-mesh YAML (num_gpus, gpu_memory_utilization, models)."""
    if not isinstance(data, dict) or "models" not in data:
        raise InvalidInputError(f"{source}: expected a mesh mapping with 'num_gpus' and 'models'", field=source)
    checks.known_keys(data, _MESH_KEYS, source, source)
    ngpus = checks.integer(data.get("num_gpus"), f"{source}.num_gpus", f"{source}: 'num_gpus'",
                           lo=1, hi=checks.MAX_GPUS_PER_NODE)
    entries = data.get("models") or []
    if not isinstance(entries, list):
        raise InvalidInputError(f"{source}: 'models' must be a list of {{name, model, mps_percentage}}",
                                field=f"{source}.models")
    llms = []
    for i, m in enumerate(entries):
        at = f"{source}.models[{i}]"
        if not isinstance(m, dict) or "name" not in m or "model" not in m:
            raise InvalidInputError(f"{source}: models[{i}] needs 'name' and 'model'", field=at)
        checks.known_keys(m, _MESH_LLM_KEYS, at, f"{source}: models[{i}]")
        name = checks.name(m["name"], f"{at}.name", f"{source}: models[{i}].name")
        mps = m.get("mps_percentage") or [100, 90]
        if (not isinstance(mps, list) or len(mps) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 100 for v in mps)):
            raise InvalidInputError(f"{source}: LLM {name!r} mps_percentage must be [prefill%, decode%] in [1, 100], "
                                    f"got {mps!r}", field=f"{at}.mps_percentage")
        seqs = checks.integer(m.get("max_num_seqs", 256), f"{at}.max_num_seqs", f"{source}: LLM {name!r} max_num_seqs",
                              lo=1, hi=checks.MAX_BATCH)
        llms.append(MeshLLM(name, _check_model(name, m["model"], f"{at}.model"), int(round(mps[0])),
                            int(round(mps[1])), seqs))
    if not llms:
        raise InvalidInputError(f"{source}: the mesh runs no LLM", field=source)
    kv = data.get("gpu_memory_utilization")
    if kv is not None:
        kv = checks.number(kv, f"{source}.gpu_memory_utilization", f"{source}: gpu_memory_utilization",
                           lo=0, lo_open=True, hi=1)
    return Mesh(ngpus, llms, kv)


def load_placement(paths: Iterable[str | Path], mode: str = "flexsm") -> PlacementPlan:
    """A placement from per-mesh YAML files (a list of files, or one directory of them)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    if not files:
        raise InvalidInputError("no placement YAML files given", field="placement")
    meshes = [parse_mesh(_yaml(f), str(f)) for f in sorted(files)]
    names = [x.name for m in meshes for x in m.llms]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidInputError(f"LLM(s) {dup} placed on more than one mesh", field="placement")
    return PlacementPlan(meshes, mode)


def check_plan_covers(plan: PlacementPlan, wl: MuxWorkload) -> None:
    """Every LLM of the workload is placed exactly once and nothing unknown is placed."""
    want, have = set(wl.by_name()), plan.llm_names()
    missing, extra = sorted(want - set(have)), sorted(set(have) - want)
    if missing:
        raise InvalidInputError(f"placement leaves LLM(s) {missing} unplaced", field="placement")
    if extra:
        raise InvalidInputError(f"placement names LLM(s) {extra} that the workload does not have", field="placement")
    want_model = {m.name: m.model for m in wl.llms}
    for m in plan.meshes:
        for x in m.llms:
            if x.model != want_model[x.name]:
                raise InvalidInputError(f"placement runs LLM {x.name!r} as {x.model!r} but the workload says "
                                        f"{want_model[x.name]!r}", field=f"placement[{x.name}].model")


@dataclass
class Measured:
    """The authors' measured run: per-LLM figures and the file's top-level throughput."""

    per_llm: dict[str, dict[str, Any]]
    throughput: float
    request_num: int

    def shares(self) -> dict[str, tuple[int, int]]:
        """SM shares (prefill, decode) each LLM actually ran with."""
        return {k: (int(v["mps"][0]), int(v["mps"][1])) for k, v in self.per_llm.items() if "mps" in v}

    def lengths(self) -> dict[str, tuple[float, float]]:
        """Each LLM's mean (prompt, output) tokens per request, as its run recorded them.

        The files give no lengths directly, but two of their counters pin them: every output token
        after the first comes from one sequence-step of a decode call, so the mean output is
        decode calls x mean decode batch / requests + 1; and tokens_throughput / throughput is the mean
        prompt + output. (A preempted request's re-decoded tokens count twice, so under preemption
        the output is slightly overstated.) LLMs lacking those counters are left out.
        """
        out = {}
        for k, v in self.per_llm.items():
            try:
                n, tpt = float(v["request_num"]), float(v["throughput"])
                output = float(v["decoding_avg_batches"]) * float(v["decoding_batch_times"]) / n + 1.0
                total = float(v["tokens_throughput"]) / tpt
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                continue
            if output >= 1.0 and total > output:
                out[k] = (total - output, output)
        return out


def load_measured(path: str | Path) -> Measured:
    """Read a merged_results JSON file."""
    try:
        raw = json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"measured results {str(path)!r} unreadable: {exc}", field="measured") from None
    per = {k: v for k, v in raw.items() if isinstance(v, dict)}
    return Measured(per, float(raw["throughput"]), int(raw["request_num"]))
