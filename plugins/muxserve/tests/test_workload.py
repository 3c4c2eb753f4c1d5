"""Workload and placement files: parsed completely, mapped to the kernel's types, bad input named."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex_muxserve.workload import (
    MuxWorkload,
    check_plan_covers,
    load_placement,
    load_workload,
    parse_workload,
)


def test_chatlmsys_workload_parses_completely(mux_data):
    wl = load_workload(mux_data.workload(2000))
    assert len(wl.llms) == 16 and wl.total_gpus == 32
    sizes = sorted(m.model for m in wl.llms)
    assert sizes.count("llama-7b") == 4 and sizes.count("llama-13b") == 6
    assert sizes.count("llama-30b") == 3 and sizes.count("llama-65b") == 3
    kw = wl.to_workload()
    assert len(kw.requests) == 16 and kw.total_rate == pytest.approx(sum(m.rate for m in wl.llms))
    back = MuxWorkload.from_workload(kw)
    assert [(m.name, m.model, m.rate) for m in back.llms] == [(m.name, m.model, m.rate) for m in wl.llms]
    assert back.total_gpus == 32


@pytest.mark.parametrize("kind,gpus", [("flexsm", 32), ("spatial", 32), ("temporal", 32)])
def test_reference_placements_cover_the_workload(mux_data, kind, gpus):
    wl = load_workload(mux_data.workload(2000))
    plan = load_placement(mux_data.placements(kind, 2000), mode=kind)
    assert plan.total_gpus == gpus
    check_plan_covers(plan, wl)
    assert len(plan.to_placements()) == len(plan.meshes)


def test_authors_low_load_placement_leaves_gpus_idle(mux_data):
    # their optimiser drops empty meshes: at x500 only 28 of 32 GPUs are used
    assert load_placement(mux_data.placements("flexsm", 500)).total_gpus == 28


@pytest.mark.parametrize("rate", [0, -1.5, "fast", float("nan")])
def test_non_positive_or_bad_rates_are_named(rate):
    data = {"cluster": {"nnodes": 1, "ngpus_per_node": 4}, "models": [{"name": "llm-x", "model": "llama-7b", "rate": rate}]}
    with pytest.raises(InvalidInputError, match="LLM 'llm-x'"):
        parse_workload(data)


def test_bad_workloads_are_refused_with_the_entry_named(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("models: [name: : :")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_workload(f)
    with pytest.raises(InvalidInputError, match="unknown model 'llama-3b'"):
        parse_workload({"models": [{"name": "a", "model": "llama-3b", "rate": 1}]})
    with pytest.raises(InvalidInputError, match="models\\[0\\] must have"):
        parse_workload({"models": [{"name": "a"}]})
    with pytest.raises(InvalidInputError, match="appears twice"):
        parse_workload({"models": [{"name": "a", "model": "llama-7b", "rate": 1}] * 2})


def test_placement_that_misses_or_duplicates_an_llm_is_refused(mux_data, tmp_path):
    wl = load_workload(mux_data.workload(2000))
    plan = load_placement(mux_data.placements("flexsm", 2000)[1:])
    with pytest.raises(InvalidInputError, match="unplaced"):
        check_plan_covers(plan, wl)
    files = mux_data.placements("flexsm", 2000)
    with pytest.raises(InvalidInputError, match="more than one mesh"):
        load_placement([files[0], files[0]])
