"""The MLP head (one hidden ReLU layer) as a proven SGD step, chained like the softmax head.

Both weight matrices travel as **one** salted tensor, so the chain keeps one hash per step and the
step's public instances stay ``H(batch), H(W|salt), H(salt_next), H(W'|salt_next)``::

    W = [ w1 | 0 ]   d rows      (w1: [d, h], zero-padded to width m = max(h, c))
        [ w2 | 0 ]   h rows      (w2: [h, c])
        [ salt   ]   S rows      (salt_rows(m), at least 128 bits)

The graph slices ``w1`` and ``w2`` out (padding and salt are never read), computes the step of
:func:`skyplex_zkaudit.fixedpoint.sgd_step` with ``params = [w1, w2]`` in ezkl's arithmetic, and
outputs the updated pair in the same layout with the fresh salt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .circuits import _const, _model, _slice, salt_rows


@dataclass(frozen=True)
class MlpStepCircuit:
    """One SGD step of a one-hidden-layer ReLU MLP head with softmax cross-entropy."""

    in_dim: int
    hidden: int
    classes: int
    batch: int
    lr_q: int
    scale: int = 8
    logrows: int = 16

    @property
    def width(self) -> int:
        return max(self.hidden, self.classes)

    @property
    def w_salt_rows(self) -> int:
        return salt_rows(self.width)

    @property
    def batch_salt_rows(self) -> int:
        return salt_rows(self.in_dim + self.classes)

    def key(self) -> str:
        return (f"mlp-d{self.in_dim}-h{self.hidden}-c{self.classes}-b{self.batch}-lr{self.lr_q}"
                f"-s{self.scale}-k{self.logrows}-v1")

    def as_dict(self) -> dict:
        return asdict(self)


def pack(w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """``[w1 | 0 ; w2 | 0]`` of shape ``[d + h, max(h, c)]`` (int64)."""
    d, h = w1.shape
    c = w2.shape[1]
    m = max(h, c)
    out = np.zeros((d + h, m), dtype=np.int64)
    out[:d, :h] = w1
    out[d:, :c] = w2
    return out


def unpack(packed: np.ndarray, in_dim: int, hidden: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(w1, w2)`` from a packed tensor (salt rows, if any, ignored)."""
    return packed[:in_dim, :hidden].copy(), packed[in_dim:in_dim + hidden, :classes].copy()


def mlp_step_onnx(c: MlpStepCircuit) -> bytes:
    """Inputs ``batch [b+S, d+k]``, ``w [d+h+Sw, m]`` (packed, salted), ``salt_next [Sw, m]``;
    output ``w_out [d+h+Sw, m]``: the packed updated weights followed by ``salt_next``."""
    from onnx import TensorProto, helper

    b, d, h, k, m = c.batch, c.in_dim, c.hidden, c.classes, c.width
    f = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("batch", f, [b + c.batch_salt_rows, d + k]),
        helper.make_tensor_value_info("w", f, [d + h + c.w_salt_rows, m]),
        helper.make_tensor_value_info("salt_next", f, [c.w_salt_rows, m]),
    ]
    outputs = [helper.make_tensor_value_info("w_out", f, [d + h + c.w_salt_rows, m])]
    inits: list = [_const("lr", np.float32(c.lr_q / (1 << c.scale)), np.float32),
                   _const("zero", np.float32(0), np.float32)]
    nodes = [
        _slice("batch", "rows", 0, b, 0, inits),
        _slice("rows", "x", 0, d, 1, inits),
        _slice("rows", "y", d, d + k, 1, inits),
        _slice("w", "w1rows", 0, d, 0, inits),
        _slice("w1rows", "w1", 0, h, 1, inits),
        _slice("w", "w2rows", d, d + h, 0, inits),
        _slice("w2rows", "w2", 0, k, 1, inits),
        helper.make_node("MatMul", ["x", "w1"], ["a"]),
        helper.make_node("Relu", ["a"], ["hid"]),
        helper.make_node("MatMul", ["hid", "w2"], ["z"]),
        helper.make_node("Softmax", ["z"], ["p"], axis=1),
        helper.make_node("Sub", ["p", "y"], ["gz"]),
        helper.make_node("Transpose", ["hid"], ["hidt"], perm=[1, 0]),
        helper.make_node("MatMul", ["hidt", "gz"], ["g2"]),
        helper.make_node("Transpose", ["w2"], ["w2t"], perm=[1, 0]),
        helper.make_node("MatMul", ["gz", "w2t"], ["dh"]),
        helper.make_node("Greater", ["a", "zero"], ["active"]),
        helper.make_node("Cast", ["active"], ["mask"], to=f),
        helper.make_node("Mul", ["dh", "mask"], ["da"]),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
        helper.make_node("MatMul", ["xt", "da"], ["g1"]),
        helper.make_node("Mul", ["g1", "lr"], ["step1"]),
        helper.make_node("Sub", ["w1", "step1"], ["w1n"]),
        helper.make_node("Mul", ["g2", "lr"], ["step2"]),
        helper.make_node("Sub", ["w2", "step2"], ["w2n"]),
    ]
    parts = []
    for name, rows, cols in (("w1n", d, h), ("w2n", h, k)):
        if cols < m:
            inits.append(_const(f"{name}_pad", np.zeros((rows, m - cols), dtype=np.float32), np.float32))
            nodes.append(helper.make_node("Concat", [name, f"{name}_pad"], [f"{name}_p"], axis=1))
            parts.append(f"{name}_p")
        else:
            parts.append(name)
    nodes.append(helper.make_node("Concat", parts + ["salt_next"], ["w_out"], axis=0))
    return _model(nodes, inputs, outputs, inits)
