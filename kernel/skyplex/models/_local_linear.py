"""Linear layers of the local model on oneDNN with weights packed once at load time.

A decode step of the running batch is ~210 matrix products of a few rows (one per running request)
by a weight matrix. torch's default CPU path (MKL ``sgemm``) re-reads each weight in its plain
layout every call and, on this project's AMD machines, runs them no faster per row at 8 rows than
at 1: measured in CPU time on one thread, the linear layers of a step cost 43 ms for 1 row and
77-80 ms for 8. oneDNN with the weight reordered once into its blocked layout
(``torch.ops.mkldnn._reorder_linear_weight``) did the 8-row step's products in 48 ms and was no
slower for prefill-sized inputs. For a single row it was slower in the whole model (a 1-row decode
step's CPU time 83-106 ms against 70-81 ms), so one-row calls keep the plain weight.

Only inference with more than one row uses the packed weight: a call with one row, or one that needs
gradients, takes the ordinary ``nn.Linear`` path. The packed copy is made at load time and is not
updated if a weight changes afterwards; the local backend never changes its weights after loading.

torch is imported inside functions so that importing skyplex stays cheap.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

#: the number of rows the packed layout is tuned for (a typical running batch)
PACK_ROWS_HINT = 8


def packing_available() -> bool:
    """Whether this torch build has oneDNN with the packed linear ops (x86 CPU builds do)."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    try:
        torch.ops.mkldnn._reorder_linear_weight  # noqa: B018 - resolving the op is the check
        torch.ops.mkldnn._linear_pointwise  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


def pack_linears(model: Any) -> int:
    """Give every plain fp32 CPU ``nn.Linear`` of ``model`` a packed oneDNN copy of its weight.

    Returns how many layers were packed (0 when oneDNN is not available: the model is unchanged).
    Subclasses of ``nn.Linear`` (adapters, quantized layers) are left alone.
    """
    import torch

    if not packing_available():
        log.info("oneDNN packed linear ops not available; the local model keeps torch's default matmul")
        return 0
    packed = 0
    with torch.no_grad():
        for module in model.modules():
            if type(module) is not torch.nn.Linear:
                continue
            weight = module.weight
            if weight.dtype != torch.float32 or weight.device.type != "cpu":
                continue
            module._skyplex_packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), PACK_ROWS_HINT)
            module.__class__ = _packed_linear_class()
            packed += 1
    return packed


_PACKED_LINEAR: type | None = None


def _packed_linear_class() -> type:
    global _PACKED_LINEAR
    if _PACKED_LINEAR is None:
        import torch

        class PackedLinear(torch.nn.Linear):
            """``nn.Linear`` whose inference calls use a oneDNN-packed copy of the weight."""

            _skyplex_packed: Any

            def forward(self, input: Any) -> Any:  # noqa: A002 - nn.Linear's parameter name
                if input.numel() == input.shape[-1] or (
                    torch.is_grad_enabled() and (self.weight.requires_grad or input.requires_grad)
                ):  # one row: MKL's matrix-vector path was faster; or gradients are needed
                    return torch.nn.functional.linear(input, self.weight, self.bias)
                return torch.ops.mkldnn._linear_pointwise(input, self._skyplex_packed, self.bias, "none", [], "")

        _PACKED_LINEAR = PackedLinear
    return _PACKED_LINEAR
