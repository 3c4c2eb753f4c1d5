"""ONNX graphs of the statements we prove with ezkl, built directly with the ``onnx`` helper API.

Why not ``torch.onnx.export``: building the graph node by node keeps it exactly the fixed-point
recipe of :mod:`.fixedpoint` (matmul, softmax, ``p - y``, ``X^T G``, scaled update) with no exporter
rewrites, no ``onnxscript`` dependency and no torch import in the prover.

Salting: ezkl's "hashed" visibility publishes a Poseidon hash of each input tensor with no salt, so
low-entropy data could be brute-forced from its hash. Every hashed tensor therefore carries extra
random rows the graph slices away (``salt_rows``); the new weights leave the circuit concatenated
with a fresh salt, so the output hash is a salted commitment that the next step's input hash must equal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Each salt value is a random integer in [-2**14, 2**14): 15 bits that stay inside ezkl's range checks.
SALT_BITS_PER_VALUE = 15
SALT_BITS = 128


def salt_rows(width: int) -> int:
    """Rows of ``width`` salt values needed for at least 128 bits of salt."""
    return math.ceil(SALT_BITS / (SALT_BITS_PER_VALUE * width))


@dataclass(frozen=True)
class StepCircuit:
    """One SGD step of softmax regression, as proven: shapes, update multiplier and ezkl settings."""

    in_dim: int
    classes: int
    batch: int
    lr_q: int
    scale: int = 8
    logrows: int = 15

    @property
    def w_salt_rows(self) -> int:
        return salt_rows(self.classes)

    @property
    def batch_salt_rows(self) -> int:
        return salt_rows(self.in_dim + self.classes)

    def key(self) -> str:
        """Directory name of this circuit's cached settings and keys."""
        return f"sgd-d{self.in_dim}-c{self.classes}-b{self.batch}-lr{self.lr_q}-s{self.scale}-k{self.logrows}-v1"

    def as_dict(self) -> dict:
        return asdict(self)


def _const(name: str, values, dtype=np.int64):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _model(nodes, inputs, outputs, initializers) -> bytes:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "skyplex_zkaudit", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="skyplex-zkaudit")
    model.ir_version = 9  # what ezkl 23's tract reader accepts
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _slice(src: str, dst: str, start: int, end: int, axis: int, inits: list):
    from onnx import helper

    inits += [_const(f"{dst}_s", [start]), _const(f"{dst}_e", [end]), _const(f"{dst}_a", [axis])]
    return helper.make_node("Slice", [src, f"{dst}_s", f"{dst}_e", f"{dst}_a"], [dst])


def sgd_step_onnx(c: StepCircuit) -> bytes:
    """Inputs ``batch [b+S, d+c]`` (x | one-hot y, salt rows), ``w [d+Sw, c]`` (weights, salt rows),
    ``salt_next [Sw, c]``; output ``w_out [d+Sw, c]`` = concat(w - lr_q/SF * X^T (softmax(XW) - Y), salt_next)."""
    from onnx import TensorProto, helper

    b, d, k = c.batch, c.in_dim, c.classes
    f = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("batch", f, [b + c.batch_salt_rows, d + k]),
        helper.make_tensor_value_info("w", f, [d + c.w_salt_rows, k]),
        helper.make_tensor_value_info("salt_next", f, [c.w_salt_rows, k]),
    ]
    outputs = [helper.make_tensor_value_info("w_out", f, [d + c.w_salt_rows, k])]
    inits: list = [_const("lr", np.float32(c.lr_q / (1 << c.scale)), np.float32)]
    nodes = [
        _slice("batch", "rows", 0, b, 0, inits),
        _slice("rows", "x", 0, d, 1, inits),
        _slice("rows", "y", d, d + k, 1, inits),
        _slice("w", "weights", 0, d, 0, inits),
        helper.make_node("MatMul", ["x", "weights"], ["z"]),
        helper.make_node("Softmax", ["z"], ["p"], axis=1),
        helper.make_node("Sub", ["p", "y"], ["gz"]),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
        helper.make_node("MatMul", ["xt", "gz"], ["grad"]),
        helper.make_node("Mul", ["grad", "lr"], ["step"]),
        helper.make_node("Sub", ["weights", "step"], ["w_new"]),
        helper.make_node("Concat", ["w_new", "salt_next"], ["w_out"], axis=0),
    ]
    return _model(nodes, inputs, outputs, inits)


@dataclass(frozen=True)
class LabelCountCircuit:
    """Censorship statistic: how many committed examples carry label ``label`` (over ``batches`` batches)."""

    in_dim: int
    classes: int
    batch: int
    batches: int
    label: int
    scale: int = 8
    logrows: int = 14

    @property
    def output_visibility(self) -> str:
        return "public"  # the count is the audit's published answer

    @property
    def batch_salt_rows(self) -> int:
        return salt_rows(self.in_dim + self.classes)

    def key(self) -> str:
        return f"count-d{self.in_dim}-c{self.classes}-b{self.batch}-n{self.batches}-l{self.label}-s{self.scale}-k{self.logrows}-v1"

    def as_dict(self) -> dict:
        return asdict(self)


def label_count_onnx(c: LabelCountCircuit) -> bytes:
    """Inputs: the committed batches (same layout and salts as training); output: the label count."""
    from onnx import TensorProto, helper

    b, d = c.batch, c.in_dim
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(f"batch{i}", f, [b + c.batch_salt_rows, d + c.classes]) for i in range(c.batches)]
    outputs = [helper.make_tensor_value_info("count", f, [1])]
    inits: list = [_const("axes0", [0, 1])]
    nodes = []
    sums = []
    for i in range(c.batches):
        nodes.append(_slice(f"batch{i}", f"rows{i}", 0, b, 0, inits))
        nodes.append(_slice(f"rows{i}", f"col{i}", d + c.label, d + c.label + 1, 1, inits))
        nodes.append(helper.make_node("ReduceSum", [f"col{i}", "axes0"], [f"sum{i}"], keepdims=0))
        sums.append(f"sum{i}")
    nodes.append(helper.make_node("Sum", sums, ["total"]))
    inits.append(_const("one", [1]))
    nodes.append(helper.make_node("Reshape", ["total", "one"], ["count"]))
    return _model(nodes, inputs, outputs, inits)
