"""Proofs of training: one ezkl proof per SGD step, chained by salted weight commitments.

Step k proves: ``H(batch_k) , H(w_k | salt_k), H(salt_{k+1})  ->  H(w_{k+1} | salt_{k+1})`` where
``w_{k+1}`` is one SGD step of softmax regression on batch k. The next step's input hash must equal
this step's output hash, so the proofs chain from the committed initial weights to the final ones.
Every proven output is cross-checked against our exact witness (skyplex.ops) and the difference
reported in ULPs (units of 2^-scale): ezkl's rounding of softmax is close to, not identical to, ours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .circuits import StepCircuit, sgd_step_onnx
from .mlp import MlpStepCircuit, mlp_step_onnx, pack, unpack
from .commitments import DatasetOpening, WeightsOpening, new_salt, poseidon_digest
from .prover import Prover, ProverError, instances
from .witness import compute_trace

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class TrainingRun:
    """Result of proving ``steps`` steps: proofs, the digest chain and the final weights opening."""

    circuit: StepCircuit | MlpStepCircuit
    step_proofs: list[dict] = field(default_factory=list)
    weight_digests: list[str] = field(default_factory=list)
    batch_digests: list[str] = field(default_factory=list)
    ulp_max: list[int] = field(default_factory=list)
    final: WeightsOpening | None = None


def step_circuit(dataset: DatasetOpening, lr: float, logrows: int = 15, hidden: int = 0) -> StepCircuit | MlpStepCircuit:
    """The circuit of one step on this dataset's batch shape (lr folded into ``lr_q = lr/b*SF``, exactly);
    the MLP head's when ``hidden > 0``."""
    from .formats import lr_q

    q = lr_q(lr, dataset.batch, dataset.scale)
    if hidden:
        return MlpStepCircuit(dataset.x.shape[1], hidden, dataset.classes, dataset.batch, q, dataset.scale, logrows)
    return StepCircuit(dataset.x.shape[1], dataset.classes, dataset.batch, q, dataset.scale, logrows)


def _our_step(circuit, batch: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Our exact witness (the compiled kernel) of the same step, as the circuit's weight layout."""
    b, d, c = circuit.batch, circuit.in_dim, circuit.classes
    x = batch[None, :b, :d].copy()
    y = batch[None, :b, d:].copy()
    if isinstance(circuit, MlpStepCircuit):
        w1, w2 = unpack(w, d, circuit.hidden, c)
        trace = compute_trace(x, y, w1, w2, lr_q=circuit.lr_q, frac_bits=circuit.scale)
        return pack(trace["w1_new"][0].reshape(d, circuit.hidden), trace["w2_new"][0].reshape(circuit.hidden, c))
    trace = compute_trace(x, y, np.ascontiguousarray(w), None, lr_q=circuit.lr_q, frac_bits=circuit.scale)
    return trace["w_new"][0].reshape(d, c)


def prove_training(prover: Prover, dataset: DatasetOpening, weights: WeightsOpening, *, lr: float, steps: int,
                   logrows: int = 15, progress: Progress | None = None) -> TrainingRun:
    """Prove ``steps`` SGD steps from ``weights`` over the dataset's batches (cycling through them)."""
    circuit = step_circuit(dataset, lr, logrows, weights.hidden)
    if weights.shape != [circuit.in_dim, circuit.classes]:
        raise ValueError(f"weights of shape {weights.shape} do not match the dataset ({circuit.in_dim}, {circuit.classes})")
    progress = progress or (lambda f, m: None)
    files = prover.files(circuit, mlp_step_onnx if weights.hidden else sgd_step_onnx, progress=progress)
    run = TrainingRun(circuit)
    cur = weights
    run.weight_digests.append(poseidon_digest(cur.salted(), cur.scale))
    rows, width = cur.w.shape  # d (softmax) or d + hidden (MLP, packed)
    for k in range(steps):
        progress(k / steps, f"proving step {k + 1}/{steps}")
        batch = dataset.batch_tensor(k % dataset.num_batches)
        salt_next = new_salt(width)
        proof, (w_out,) = prover.prove(files, circuit.scale, [batch, cur.salted(), salt_next])
        w_out = w_out.reshape(rows + circuit.w_salt_rows, width)
        if not np.array_equal(w_out[rows:], salt_next):
            raise ProverError(f"step {k}: the circuit did not carry the fresh salt through unchanged")
        # cross-check against our exact witness of the same step from the same weights
        ulp = int(np.abs(_our_step(circuit, batch, cur.w) - w_out[:rows]).max())
        if ulp:
            log.info("step %d: proven weights differ from our witness by up to %d ULP (2^-%d)", k, ulp, circuit.scale)
        inst = instances(proof)
        run.step_proofs.append(proof)
        run.batch_digests.append(inst[0])
        run.ulp_max.append(ulp)
        cur = WeightsOpening(w_out[:rows].copy(), salt_next, cur.scale, weights.hidden, weights.classes)
        run.weight_digests.append(inst[3])
    run.final = cur
    progress(1.0, f"proved {steps} steps")
    return run
