"""The three plots as PNG files, and that each draws the figures it is given (read back from the axes)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from skyplex_muxserve import plot  # noqa: E402
from skyplex_muxserve.simulator import SimConfig, simulate  # noqa: E402
from skyplex_muxserve.workload import LLM, Mesh, MeshLLM, MuxWorkload, PlacementPlan  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, kept open for inspection (and still written to disk)."""
    figs = []
    save = plot._save

    def keep(fig, plt, path):
        figs.append(fig)
        fig.canvas.draw()
        out = save(fig, plt, path)
        return out

    monkeypatch.setattr(plot, "_save", keep)
    return figs


def _run(profile):
    wl = MuxWorkload([LLM("a", "llama-7b", 3.0), LLM("b", "llama-13b", 0.5)], 1, 4)
    plan = PlacementPlan([Mesh(2, [MeshLLM("a", "llama-7b", 80, 60)]), Mesh(2, [MeshLLM("b", "llama-13b", 90, 40)])])
    return wl, plan, simulate(plan, wl, profile, SimConfig(seed=1, duration_s=10))


def test_throughput_vs_rate_draws_each_llm_at_its_rate(tmp_path, profile, drawn):
    wl, _, res = _run(profile)
    out = plot.throughput_vs_rate(wl, {"ours": res}, tmp_path / "t.png")
    assert out.read_bytes()[:8] == PNG
    points = sorted(map(tuple, drawn[0].axes[0].collections[0].get_offsets().tolist()))
    assert points == sorted((m.rate, res.llms[m.name].throughput) for m in wl.llms)


def test_metric_vs_load_draws_one_line_per_placement_in_load_order(tmp_path, drawn):
    rows = [{"load": 2000, "placement": "ours", "slo_attainment": 0.9}, {"load": 500, "placement": "ours", "slo_attainment": 1.0},
            {"load": 500, "placement": "shipped", "slo_attainment": 0.95}]
    out = plot.metric_vs_load(rows, "slo_attainment", tmp_path / "s.png")
    assert out.read_bytes()[:8] == PNG
    lines = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in drawn[0].axes[0].get_lines()}
    assert lines == {"ours": ([500, 2000], [1.0, 0.9]), "shipped": ([500], [0.95])}


def test_placement_diagram_puts_every_mesh_on_its_node_and_refuses_one_that_does_not_fit(tmp_path, profile, drawn):
    wl, plan, _ = _run(profile)
    out = plot.placement_diagram(plan, 1, 4, tmp_path / "p.png")
    assert out.read_bytes()[:8] == PNG
    blocks = sorted((p.get_x(), p.get_width()) for p in drawn[0].axes[0].patches)
    assert blocks == [(0, 2), (2, 2)]  # both 2-GPU meshes, side by side, every GPU covered
    with pytest.raises(Exception, match="does not fit"):
        plot.placement_diagram(PlacementPlan([Mesh(8, plan.meshes[0].llms)]), 1, 4, tmp_path / "q.png")
