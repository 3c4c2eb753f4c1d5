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


@dataclass(frozen=True)
class AccuracyCircuit:
    """Counterfactual audit: how many examples of a committed test set the committed weights classify
    correctly (over ``batches`` batches of ``batch``).

    An example counts as correct when its true-class logit is *strictly* greater than every other
    logit, the logits being ezkl's ``x @ w`` rescaled to ``2^-scale`` (see :func:`accuracy_reference`).
    Ties count as wrong, so the proven count never flatters the model.
    """

    in_dim: int
    classes: int
    batch: int
    batches: int
    scale: int = 8
    logrows: int = 15

    @property
    def output_visibility(self) -> str:
        return "public"  # the count of correct predictions is the audit's published answer

    @property
    def batch_salt_rows(self) -> int:
        return salt_rows(self.in_dim + self.classes)

    @property
    def w_salt_rows(self) -> int:
        return salt_rows(self.classes)

    def key(self) -> str:
        return f"acc-d{self.in_dim}-c{self.classes}-b{self.batch}-n{self.batches}-s{self.scale}-k{self.logrows}-v1"

    def as_dict(self) -> dict:
        return asdict(self)


def accuracy_onnx(c: AccuracyCircuit) -> bytes:
    """Inputs ``batch0..batch{n-1}`` (the committed batches, training layout and salts) and ``w``
    (salted weights, as committed); output ``count [1]``: examples whose true-class logit beats all others.

    Per batch, with ``z = x @ w`` and one-hot ``y``: ``margin = (z·y summed over classes) - z`` is the
    true logit minus each logit (0 in the true column). ``Greater(margin, 0) + y`` is then 1 or more in
    every column exactly when the example is classified correctly, so its row minimum is the 0/1
    correctness bit. This avoids ArgMax, whose ezkl output has scale 0 and whose tie-breaking is
    index order, for comparisons ezkl proves with its range-check lookups.
    """
    from onnx import TensorProto, helper

    b, d, k = c.batch, c.in_dim, c.classes
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(f"batch{i}", f, [b + c.batch_salt_rows, d + k]) for i in range(c.batches)]
    inputs.append(helper.make_tensor_value_info("w", f, [d + c.w_salt_rows, k]))
    outputs = [helper.make_tensor_value_info("count", f, [1])]
    inits: list = [_const("ax0", [0]), _const("ax1", [1]), _const("one", [1]), _const("zero", np.float32(0), np.float32)]
    nodes = [_slice("w", "weights", 0, d, 0, inits)]
    oks = []
    for i in range(c.batches):
        nodes += [
            _slice(f"batch{i}", f"rows{i}", 0, b, 0, inits),
            _slice(f"rows{i}", f"x{i}", 0, d, 1, inits),
            _slice(f"rows{i}", f"y{i}", d, d + k, 1, inits),
            helper.make_node("MatMul", [f"x{i}", "weights"], [f"z{i}"]),
            helper.make_node("Mul", [f"z{i}", f"y{i}"], [f"zy{i}"]),
            helper.make_node("ReduceSum", [f"zy{i}", "ax1"], [f"zt{i}"], keepdims=1),
            helper.make_node("Sub", [f"zt{i}", f"z{i}"], [f"margin{i}"]),
            helper.make_node("Greater", [f"margin{i}", "zero"], [f"gt{i}"]),
            helper.make_node("Cast", [f"gt{i}"], [f"gtf{i}"], to=f),
            helper.make_node("Add", [f"gtf{i}", f"y{i}"], [f"s{i}"]),
            helper.make_node("ReduceMin", [f"s{i}", "ax1"], [f"ok{i}"], keepdims=0),
        ]
        oks.append(f"ok{i}")
    nodes.append(helper.make_node("Concat", oks, ["oks"], axis=0) if len(oks) > 1 else helper.make_node("Identity", oks, ["oks"]))
    nodes.append(helper.make_node("ReduceSum", ["oks", "ax0"], ["total"], keepdims=1))
    nodes.append(helper.make_node("Reshape", ["total", "one"], ["count"]))
    return _model(nodes, inputs, outputs, inits)


@dataclass(frozen=True)
class MembershipCircuit:
    """Membership audit: an example (features and one-hot label) equals some row of a committed batch.

    Inputs are the salted batch (its Poseidon hash must be one of the dataset's batch digests) and the
    example ``[1, d + c]`` (its hash the verifier computes from the claim); the one public output is
    the smallest L1 distance between the example and the batch's rows, which is 0 exactly when the
    example is one of them. Which row stays private; which batch is public.
    """

    in_dim: int
    classes: int
    batch: int
    scale: int = 8
    logrows: int = 13

    @property
    def output_visibility(self) -> str:
        return "public"  # the distance, which the verifier requires to be 0

    @property
    def batch_salt_rows(self) -> int:
        return salt_rows(self.in_dim + self.classes)

    def key(self) -> str:
        return f"member-d{self.in_dim}-c{self.classes}-b{self.batch}-s{self.scale}-k{self.logrows}-v1"

    def as_dict(self) -> dict:
        return asdict(self)


def membership_onnx(c: MembershipCircuit) -> bytes:
    """``min over rows r of sum_j |batch[r, j] - example[j]|`` (salt rows sliced away first).

    Only subtraction, absolute value, sums and one minimum: every value stays an exact integer at
    the input scale (no rescaling, so no rounding can make two different rows look equal)."""
    from onnx import TensorProto, helper

    b, w = c.batch, c.in_dim + c.classes
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("batch", f, [b + c.batch_salt_rows, w]),
              helper.make_tensor_value_info("example", f, [1, w])]
    outputs = [helper.make_tensor_value_info("distance", f, [1])]
    inits: list = [_const("ax0", [0]), _const("ax1", [1])]
    nodes = [
        _slice("batch", "rows", 0, b, 0, inits),
        helper.make_node("Sub", ["rows", "example"], ["diff"]),
        helper.make_node("Abs", ["diff"], ["absdiff"]),
        helper.make_node("ReduceSum", ["absdiff", "ax1"], ["dist"], keepdims=0),
        helper.make_node("ReduceMin", ["dist", "ax0"], ["distance"], keepdims=1),
    ]
    return _model(nodes, inputs, outputs, inits)


def accuracy_reference(x: np.ndarray, labels: np.ndarray, w: np.ndarray, scale: int) -> np.ndarray:
    """The 0/1 correctness of each example as the accuracy circuit computes it, from integers at ``scale``.

    Logits are ``x @ w`` (scale ``2*scale``) rescaled to ``scale`` with ezkl's rounding (half away from
    zero); an example is correct iff its true logit is strictly greater than every other logit.
    """
    z2 = np.asarray(x, dtype=np.int64) @ np.asarray(w, dtype=np.int64)
    sf = 1 << scale
    z = np.sign(z2) * ((np.abs(z2) + sf // 2) // sf)
    labels = np.asarray(labels, dtype=np.int64)
    true = z[np.arange(len(labels)), labels]
    others = np.where(np.eye(z.shape[1], dtype=bool)[labels], np.iinfo(np.int64).min, z)
    return (true > others.max(axis=1)).astype(np.int64)
