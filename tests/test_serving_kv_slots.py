"""The running batch's preallocated keys/values (``SlotBatch``): whatever sequence of requests joining,
decode steps and requests leaving, every live row holds exactly its own tokens' keys/values, in order,
newest in the last column, and the mask marks exactly those columns. Checked against a plain model
(one Python list of token values per request), without the language model: fast and exhaustive."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from skyplex.models import _local_kv  # noqa: E402
from skyplex.models._local_kv import SlotBatch  # noqa: E402

LAYERS, HEADS, DIM = 2, 2, 3


def prefilled(values: list[list[float]]) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """A prefill's output for rows whose tokens carry ``values``: left-padded, like the scheduler's."""
    width = max(len(v) for v in values)
    keys = torch.zeros(len(values), HEADS, width, DIM)
    mask = torch.zeros(len(values), width, dtype=torch.long)
    for row, v in enumerate(values):
        keys[row, :, width - len(v) :] = torch.tensor(v).view(1, -1, 1)
        mask[row, width - len(v) :] = 1
    return [(keys * (layer + 1), -keys * (layer + 1)) for layer in range(LAYERS)], mask


def live_rows(batch: SlotBatch) -> list[list[float]]:
    """Each live row's real tokens' values (read back through the buffers, checking every layer agrees)."""
    mask = batch.mask().bool()
    out = []
    for row in range(batch.rows):
        per_layer = []
        for layer in range(LAYERS):
            keys, values = batch.layer(layer)
            k = keys[row, :, mask[row]] / (layer + 1)
            v = -values[row, :, mask[row]] / (layer + 1)
            assert torch.equal(k, v)
            assert torch.equal(k, k[:1].expand_as(k))  # every head and dim carries the token's value
            per_layer.append(k[0, :, 0].tolist())
        assert all(p == per_layer[0] for p in per_layer)
        assert bool(mask[row, -1])  # every row's newest token sits in the last column
        out.append(per_layer[0])
    return out


actions = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.lists(st.integers(1, 40), min_size=1, max_size=3)),
        st.tuples(st.just("step"), st.integers(1, 30)),
        st.tuples(st.just("leave"), st.lists(st.integers(0, 20), min_size=1, max_size=3)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(actions=actions, small=st.booleans())
def test_rows_hold_exactly_their_own_tokens(actions, small):
    if small:  # tiny buffers: every growth, shift and compaction path runs
        _local_kv.INITIAL_COLUMNS, _local_kv.INITIAL_ROWS = 2, 1
    try:
        batch = SlotBatch(LAYERS, HEADS, DIM, torch.float32)
    finally:
        _local_kv.INITIAL_COLUMNS, _local_kv.INITIAL_ROWS = 256, 4
    reference: list[list[float]] = []
    counter = iter(range(1, 10**6))
    for kind, arg in actions:
        if kind == "join":
            values = [[float(next(counter)) for _ in range(n)] for n in arg]
            layers, mask = prefilled(values)
            batch.add_rows(layers, mask)
            reference += values
        elif kind == "step" and batch.rows:
            for _ in range(arg):
                batch.open_column()
                new = [float(next(counter)) for _ in range(batch.rows)]
                column = torch.tensor(new).view(-1, 1, 1, 1).expand(batch.rows, HEADS, 1, DIM)
                for layer, cache_layer in enumerate(batch.cache.layers):
                    keys, values = cache_layer.update(column * (layer + 1), -column * (layer + 1))
                    assert keys.shape[2] == batch.width + 1  # the model sees the live region and the new column
                batch.close_column()
                for row, value in zip(reference, new):
                    row.append(value)
        elif kind == "leave" and batch.rows:
            gone = sorted({i % batch.rows for i in arg})
            order = batch.remove_rows(gone)
            assert sorted(order) == [i for i in range(len(reference)) if i not in gone]
            reference = [reference[i] for i in order]
        assert live_rows(batch) == reference
        assert batch.rows == len(reference)
        if reference:  # no column that every row masks out is kept at the left edge
            assert bool(batch.mask()[:, 0].any())
            assert batch.width == max(len(r) for r in reference)
        assert batch.cache.get_seq_length() == batch.width


def test_buffers_are_reused_across_requests():
    batch = SlotBatch(LAYERS, HEADS, DIM, torch.float32)
    buffers = batch.keys[0]
    for _ in range(5):  # requests come and go: no new allocation while they fit
        layers, mask = prefilled([[1.0] * 10, [2.0] * 20])
        batch.add_rows(layers, mask)
        for _ in range(5):
            batch.open_column()
            for layer in batch.cache.layers:
                layer.update(torch.zeros(2, HEADS, 1, DIM), torch.zeros(2, HEADS, 1, DIM))
            batch.close_column()
        batch.remove_rows([0])
        batch.remove_rows([0])
        assert batch.rows == 0
    assert batch.keys[0] is buffers and batch.grows == 0
