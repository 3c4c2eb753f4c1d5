"""The local model's linear layers on oneDNN-packed weights compute what ``nn.Linear`` computes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from skyplex.models import _local_linear as linear  # noqa: E402

pytestmark = pytest.mark.skipif(not linear.packing_available(), reason="this torch build has no oneDNN packed linear")


class _Adapter(torch.nn.Linear):
    """A subclass (as adapters are): must be left on its own forward."""


def _model(seed: int, bias: bool) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(24, 40, bias=bias), torch.nn.SiLU(), torch.nn.Linear(40, 24, bias=bias), _Adapter(24, 8)
    ).eval()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    bias=st.booleans(),
    shape=st.sampled_from([(1, 24), (1, 1, 24), (8, 24), (3, 1, 24), (2, 37, 24), (16, 24)]),
)
def test_packed_layers_match_plain_linear(seed, bias, shape):
    model = _model(seed, bias)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = model(x)
    assert linear.pack_linears(model) == 2  # the two plain layers, not the subclass
    with torch.inference_mode():
        got = model(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_subclasses_and_other_dtypes_keep_their_forward():
    model = _model(0, True)
    model[2] = model[2].double()
    assert linear.pack_linears(model) == 1
    assert type(model[0]).__name__ == "PackedLinear"
    assert type(model[2]) is torch.nn.Linear
    assert type(model[3]) is _Adapter


def test_gradients_flow_through_the_plain_weight():
    """A call that needs gradients uses the parameter itself, so training a packed model still works."""
    model = _model(1, True)
    linear.pack_linears(model)
    x = torch.randn(4, 24)
    model(x).sum().backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


def test_state_dict_is_unchanged_by_packing():
    model = _model(2, False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    linear.pack_linears(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key])


def test_the_local_model_decodes_on_packed_weights(local_backend):
    """Every plain linear layer of the loaded SmolLM2 (30 blocks of 7, and the tied output head) is packed."""
    model = local_backend._engine_loaded().model
    kinds = [type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert kinds and set(kinds) == {"PackedLinear"}
    assert len(kinds) == 30 * 7 + 1


def test_one_row_uses_the_plain_weight_and_several_rows_the_packed_one(monkeypatch):
    model = _model(3, True)
    linear.pack_linears(model)
    packed_calls = []
    real = torch.ops.mkldnn._linear_pointwise

    class Spy:
        def __call__(self, *args, **kwargs):
            packed_calls.append(args[0].shape)
            return real(*args, **kwargs)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", Spy())
    with torch.inference_mode():
        model(torch.randn(1, 1, 24))
        assert packed_calls == []
        model(torch.randn(4, 1, 24))
    assert len(packed_calls) == 2  # the two packed layers, for the 4-row call only
