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
from .commitments import DatasetOpening, WeightsOpening, new_salt, poseidon_digest
from .prover import Prover, ProverError, instances
from .witness import compute_trace

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class TrainingRun:
    """Result of proving ``steps`` steps: proofs, the digest chain and the final weights opening."""

    circuit: StepCircuit
    step_proofs: list[dict] = field(default_factory=list)
    weight_digests: list[str] = field(default_factory=list)
    batch_digests: list[str] = field(default_factory=list)
    ulp_max: list[int] = field(default_factory=list)
    final: WeightsOpening | None = None


def step_circuit(dataset: DatasetOpening, lr: float, logrows: int = 15) -> StepCircuit:
    """The circuit of one step on this dataset's batch shape (lr folded into ``lr_q = lr/b*SF``, exactly)."""
    from .formats import lr_q

    return StepCircuit(dataset.x.shape[1], dataset.classes, dataset.batch, lr_q(lr, dataset.batch, dataset.scale),
                       dataset.scale, logrows)


def prove_training(prover: Prover, dataset: DatasetOpening, weights: WeightsOpening, *, lr: float, steps: int,
                   logrows: int = 15, progress: Progress | None = None) -> TrainingRun:
    """Prove ``steps`` SGD steps from ``weights`` over the dataset's batches (cycling through them)."""
    circuit = step_circuit(dataset, lr, logrows)
    if weights.w.shape != (circuit.in_dim, circuit.classes):
        raise ValueError(f"weights of shape {weights.w.shape} do not match the dataset ({circuit.in_dim}, {circuit.classes})")
    progress = progress or (lambda f, m: None)
    files = prover.files(circuit, sgd_step_onnx, progress=progress)
    run = TrainingRun(circuit)
    cur = weights
    run.weight_digests.append(poseidon_digest(cur.salted(), cur.scale))
    d = circuit.in_dim
    for k in range(steps):
        progress(k / steps, f"proving step {k + 1}/{steps}")
        batch = dataset.batch_tensor(k % dataset.num_batches)
        salt_next = new_salt(circuit.classes)
        proof, (w_out,) = prover.prove(files, circuit.scale, [batch, cur.salted(), salt_next])
        w_out = w_out.reshape(d + circuit.w_salt_rows, circuit.classes)
        if not np.array_equal(w_out[d:], salt_next):
            raise ProverError(f"step {k}: the circuit did not carry the fresh salt through unchanged")
        # cross-check against our exact witness of the same step from the same weights
        b = circuit.batch
        x = batch[None, :b, :d].copy()
        y = batch[None, :b, d:].copy()
        trace = compute_trace(x, y, np.ascontiguousarray(cur.w), None, lr_q=circuit.lr_q, frac_bits=circuit.scale)
        ours = trace["w_new"][0].reshape(d, circuit.classes)
        ulp = int(np.abs(ours - w_out[:d]).max())
        if ulp:
            log.info("step %d: proven weights differ from our witness by up to %d ULP (2^-%d)", k, ulp, circuit.scale)
        inst = instances(proof)
        run.step_proofs.append(proof)
        run.batch_digests.append(inst[0])
        run.ulp_max.append(ulp)
        cur = WeightsOpening(w_out[:d].copy(), salt_next, cur.scale)
        run.weight_digests.append(inst[3])
    run.final = cur
    progress(1.0, f"proved {steps} steps")
    return run
