"""``skyplex muxserve place|simulate|compare``: the command-line face of the plugin, on the kernel's CLI
helpers (``--json`` by :func:`~skyplex.cli.json_option`, output by :func:`~skyplex.cli.emit`, bad input
reported by :func:`~skyplex.cli.fail` as one line with exit status 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, fail, json_option

_PROFILE = click.option("--profile", type=click.Path(dir_okay=False, path_type=Path),
                        help="Latency profile JSON (default: the packaged A100-80GB profile).")
_SIM = [
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
                 help="Seconds of arrivals per LLM."),
    click.option("--arrival-cv", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
                 help="Coefficient of variation of inter-arrival gaps (1 = Poisson, >1 bursty Gamma)."),
    click.option("--kv-policy", type=click.Choice(["adbs", "fixed", "elastic"]), default="adbs", show_default=True),
    click.option("--slo-scale", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
                 help="SLO: latency <= this x the request's latency alone."),
]


def _sim_options(f: Any) -> Any:
    for d in reversed(_SIM):
        f = d(f)
    return f


def _config(seed, duration, arrival_cv, kv_policy, slo_scale) -> dict[str, Any]:
    return {"seed": seed, "duration_s": duration, "arrival_cv": arrival_cv, "kv_policy": kv_policy, "slo_scale": slo_scale}


@click.group()
def muxserve() -> None:
    """MuxServe: place many LLMs on shared GPU meshes, simulate them, compare placements."""


@muxserve.command()
@click.argument("workload", type=click.Path(dir_okay=False, path_type=Path))
@_PROFILE
@click.option("--estimator", type=click.Choice(["default", "fidelity"]), default="default", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write one authors'-format YAML per mesh here.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw the placement per node to this PNG.")
@click.option("--vllm-script", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a bash script starting one vLLM server per LLM under CUDA MPS (the GPU path).")
@click.option("--confirm", type=click.IntRange(min=0), default=3, show_default=True,
              help="How many of the estimator's best placements the simulator judges (0: the estimator alone).")
@json_option
def place(workload: Path, profile: Path | None, estimator: str, out: Path | None, plot: Path | None,
          vllm_script: Path | None, confirm: int, json_output: bool) -> None:
    """Place WORKLOAD's LLMs (authors' workload YAML) on its cluster."""
    import yaml

    from .api import place as do_place
    from .api import plan_to_dict, plan_to_yaml_docs

    plan, served = do_place(workload, profile, estimator, confirm)
    data = {**plan_to_dict(plan), "estimated_served_rate": served}
    if out:
        stale = sorted(p.name for p in out.glob("*.yaml")) if out.is_dir() else []
        if stale:
            # a later `simulate --placement OUT` reads every YAML there: old meshes would mix with these
            fail(f"--out {out} already holds placement files ({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''}); "
                 "give an empty or new directory", field="--out")
        out.mkdir(parents=True, exist_ok=True)
        for i, doc in enumerate(plan_to_yaml_docs(plan)):
            (out / f"mesh{i}_size{doc['num_gpus']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        data["written_to"] = str(out)
    if plot or vllm_script:
        from .workload import load_workload

        wl = load_workload(workload)
        if plot:
            from .plot import placement_diagram

            data["plot"] = str(placement_diagram(plan, wl.nnodes, wl.gpus_per_node, plot))
        if vllm_script:
            from .deploy import launch_script, vllm_launches

            vllm_script.write_text(launch_script(vllm_launches(plan, wl)))
            data["vllm_script"] = str(vllm_script)

    def human(d: dict) -> None:
        click.echo(f"{len(d['meshes'])} meshes, {d['gpus']} GPUs, estimated served rate {served:.2f} req/s")
        for m in d["meshes"]:
            llms = ", ".join(f"{x['name']}({x['model']}, SM {x['prefill_sm']}/{x['decode_sm']})" for x in m["llms"])
            click.echo(f"  {m['ngpus']} GPU(s): {llms}")

    emit(data, json_output=json_output, human=human)


def _summary(res) -> dict[str, Any]:
    return {"throughput": res.throughput, "goodput": res.goodput, "slo_attainment": res.slo_attainment,
            "aggregate_throughput": res.aggregate_throughput, "unfinished": res.unfinished}


@muxserve.command()
@click.argument("workload", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--placement", "placements", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Per-mesh placement YAML file or a directory of them (repeatable).")
@click.option("--mode", type=click.Choice(["flexsm", "temporal", "spatial"]), default="flexsm", show_default=True)
@_PROFILE
@click.option("--strict-profile", is_flag=True, help="Refuse latencies resting on missing (-1) profile entries.")
@_sim_options
@json_option
def simulate(workload: Path, placements: tuple[Path, ...], mode: str, profile: Path | None, strict_profile: bool,
             seed: int, duration: float, arrival_cv: float, kv_policy: str, slo_scale: float, json_output: bool) -> None:
    """Simulate WORKLOAD served by a placement; per-LLM throughput, latency percentiles, SLO attainment."""
    from .api import simulate_plan
    from .workload import load_placement, load_workload

    wl = load_workload(workload)
    plan = load_placement(list(placements), mode=mode)
    res = simulate_plan(wl, plan, profile=profile, strict_profile=strict_profile,
                        **_config(seed, duration, arrival_cv, kv_policy, slo_scale))
    data = {**res.to_dict(), "gpus_used": plan.total_gpus, "gpus_idle": wl.total_gpus - plan.total_gpus}

    def human(d: dict) -> None:
        click.echo(f"throughput {d['throughput']:.2f} req/s (request-weighted per-LLM), goodput {d['goodput']:.2f} req/s, "
                   f"SLO attainment {d['slo_attainment']:.1%}, unfinished {d['unfinished']}")
        if d["gpus_idle"]:
            click.echo(f"  note: the placement leaves {d['gpus_idle']} of the cluster's GPUs idle")
        if d["gaps"]:
            click.echo(f"  note: {len(d['gaps'])} latencies rest on missing profile entries (see --json 'gaps')")
        for name, r in sorted(d["llms"].items(), key=lambda kv: kv[0]):
            click.echo(f"  {name}: {r['throughput']:.2f} req/s, p99 latency {r['percentiles']['p99_latency']:.1f}s, "
                       f"p99 TTFT {r['percentiles']['p99_ttft']:.2f}s, SLO {r['slo_attainment']:.1%}")

    emit(data, json_output=json_output, human=human)


@muxserve.command()
@click.argument("workload", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--placement", "placements", multiple=True, type=click.Path(path_type=Path),
              help="Reference placement YAML files/directory to compare against (e.g. the authors').")
@_PROFILE
@_sim_options
@json_option
def compare(workload: Path, placements: tuple[Path, ...], profile: Path | None, seed: int, duration: float,
            arrival_cv: float, kv_policy: str, slo_scale: float, json_output: bool) -> None:
    """Simulate this plugin's placement, one LLM per mesh (spatial), and any given placement, side by side."""
    from .api import get_profile, plan_to_dict, simulate_plan
    from .api import place as do_place
    from .placement import spatial_plan
    from .workload import load_workload

    wl = load_workload(workload)
    cfg = _config(seed, duration, arrival_cv, kv_policy, slo_scale)
    ours, _ = do_place(wl, profile)
    rows: dict[str, Any] = {"muxserve": {"plan": plan_to_dict(ours), **_summary(simulate_plan(wl, ours, profile=profile, **cfg))}}
    spatial = spatial_plan(wl, get_profile(profile))
    if spatial.total_gpus <= wl.total_gpus:
        rows["spatial"] = {"gpus": spatial.total_gpus, **_summary(simulate_plan(wl, spatial, profile=profile, **cfg))}
    else:  # said, not dropped: one mesh per LLM does not fit this cluster
        rows["spatial"] = {"gpus": spatial.total_gpus,
                           "skipped": f"one mesh per LLM needs {spatial.total_gpus} GPUs; the cluster has {wl.total_gpus}"}
    if placements:
        rows["given"] = {**_summary(simulate_plan(wl, list(placements), "flexsm", profile, **cfg))}

    def human(d: dict) -> None:
        click.echo(f"{'placement':<10} {'throughput':>10} {'goodput':>9} {'SLO':>7}")
        for k, r in d.items():
            if "skipped" in r:
                click.echo(f"{k:<10} skipped: {r['skipped']}")
                continue
            click.echo(f"{k:<10} {r['throughput']:>10.2f} {r['goodput']:>9.2f} {r['slo_attainment']:>7.1%}")

    emit(rows, json_output=json_output, human=human)


def register(cli: click.Group) -> None:
    """Add ``skyplex muxserve ...`` to the ``skyplex`` CLI."""
    cli.add_command(muxserve)
