"""Profile layer: exact at measured points, interpolated between, key order irrelevant, gaps flagged."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_muxserve.catalogue import shape_of
from skyplex_muxserve.profiles import LatencyProfile, ProfileGapError, fidelity_costs


@pytest.fixture(scope="module")
def raw(profile_path):
    return json.loads(gzip.decompress(profile_path.read_bytes()))


def _measured(raw):
    out = []
    for m, by_g in raw.items():
        for g, by_s in by_g.items():
            for s, by_b in by_s.items():
                for b, by_l in by_b.items():
                    for ln, cell in by_l.items():
                        if cell["prefill"] > 0 and cell["decoding"] > 0:
                            out.append((m, int(g), int(s), int(b), int(ln), cell))
    return out


def test_measured_points_are_reproduced_exactly(raw, profile):
    pts = _measured(raw)
    for m, g, s, b, ln, cell in random.Random(0).sample(pts, 400):
        assert profile.prefill_s(m, g, s, b, ln) == pytest.approx(cell["prefill"] / 1000, rel=1e-9)
        assert profile.decode_s(m, g, s, b, ln) == pytest.approx(cell["decoding"] / 1000, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(b=st.floats(1, 128), ln=st.floats(32, 512), sm=st.floats(30, 100))
def test_interpolation_stays_between_the_measured_corners(profile, b, ln, sm):
    grid = profile.grid("llama-7b", 1)
    import numpy as np

    bi = max(0, int(np.searchsorted(grid.batches, b)) - 1)
    li = max(0, int(np.searchsorted(grid.lengths, ln)) - 1)
    si = max(0, int(np.searchsorted(grid.sms, sm)) - 1)
    bj, lj, sj = min(bi + 1, len(grid.batches) - 1), min(li + 1, len(grid.lengths) - 1), min(si + 1, len(grid.sms) - 1)
    corners = grid.decode[[si, sj]][:, [bi, bj]][:, :, [li, lj]]
    v = profile.decode_s("llama-7b", 1, sm, b, ln)
    assert corners.min() - 1e-12 <= v <= corners.max() + 1e-12


def test_key_order_does_not_change_lookups_but_changes_the_authors_lists(raw, profile):
    shuffled = {}
    rng = random.Random(1)
    for m, by_g in raw.items():
        shuffled[m] = {}
        for g, by_s in by_g.items():
            shuffled[m][g] = {}
            for s, by_b in by_s.items():
                items = list(by_b.items())
                rng.shuffle(items)
                shuffled[m][g][s] = {b: dict(reversed(list(by_l.items()))) for b, by_l in items}
    other = LatencyProfile(shuffled)
    for args in [("llama-13b", 2, 60, 37, 300), ("llama-65b", 8, 45, 5, 100), ("llama-7b", 8, 90, 100, 64)]:
        assert other.decode_s(*args) == profile.decode_s(*args)
        assert other.prefill_s(*args) == profile.prefill_s(*args)
    a = fidelity_costs(profile, "llama-7b", 8, 90, False, 337)
    b = fidelity_costs(other, "llama-7b", 8, 90, False, 337)
    assert (a.batches, a.latencies) != (b.batches, b.latencies)  # the defect `default` mode removes


def test_missing_entry_is_refused_when_strict_and_flagged_otherwise(raw, profile_path):
    gaps = [(m, int(g), int(s), int(b), int(ln)) for m, by_g in raw.items() for g, by_s in by_g.items()
            for s, by_b in by_s.items() for b, by_l in by_b.items() for ln, c in by_l.items() if c["decoding"] < 0]
    m, g, s, b, ln = gaps[0]
    strict = LatencyProfile.load(profile_path, strict=True)
    with pytest.raises(ProfileGapError, match=f"{m} GPUs={g} SM={s}% batch={b} len={ln} decode"):
        strict.decode_s(m, g, s, b, ln)
    lenient = LatencyProfile.load(profile_path)
    assert lenient.decode_s(m, g, s, b, ln) > 0
    assert (m, g, s, b, ln, "decode") in lenient.gaps_touched


def test_malformed_profiles_are_refused(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        LatencyProfile.load(bad)
    with pytest.raises(InvalidInputError, match="does not exist"):
        LatencyProfile.load(tmp_path / "missing.json")
    with pytest.raises(InvalidInputError, match="not an integer"):
        LatencyProfile({"llama-7b": {"one": {}}})
    with pytest.raises(InvalidInputError, match="no latency profile for llama-7b on 16"):
        LatencyProfile({"llama-7b": {"1": {"100": {"1": {"32": {"prefill": 1, "decoding": 1}}}}}}).grid("llama-7b", 16)


def test_kv_sizes_follow_shape_tp_and_gqa():
    s13 = shape_of("/ckpt/huggyllama/llama-13b")
    assert s13.kv_bytes_per_token(1) == 2 * 40 * 40 * 128 * 2
    assert s13.kv_bytes_per_token(2) == s13.kv_bytes_per_token(1) / 2
    assert s13.kv_bytes_per_token_mesh(8) == s13.kv_bytes_per_token(1)
    gqa = shape_of("llama-2-70b")  # 8 KV heads: beyond TP 8 every GPU still holds one head
    assert gqa.kv_bytes_per_token(1) == 2 * 80 * 8 * 128 * 2
    assert gqa.kv_bytes_per_token(16) == 2 * 80 * 1 * 128 * 2
    assert gqa.kv_bytes_per_token_mesh(16) == 2 * gqa.kv_bytes_per_token(1)
    assert shape_of("llama-13b").to_spec().kv_bytes_per_token == s13.kv_bytes_per_token(1)


def test_unknown_and_unparseable_models_are_named():
    with pytest.raises(InvalidInputError, match="unknown model 'mistral-7b'"):
        shape_of("mistral-7b")
    with pytest.raises(InvalidInputError, match="cannot read a model size from 'gpt-foo'"):
        shape_of("gpt-foo")
