"""Salted commitments: datasets (per-batch Poseidon digests) and weights.

- Dataset: for each batch, the Poseidon hash ezkl computes of the salted batch tensor
  (``circuits.sgd_step_onnx`` layout: rows of features and one-hot labels, then at least 128 bits of
  salt rows derived from a master salt). Every proof's public batch hashes must equal these; the
  record's digest is the SHA-256 of them in order.
- Weights: the Poseidon hash of the salted weight tensor (what step proofs chain on) and a SHA-256
  of the same salted integers.

Public records are small JSON dicts; the opening (data, salts) stays with the prover.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import numpy as np

from .circuits import SALT_BITS_PER_VALUE, salt_rows


class CommitmentError(ValueError):
    """An opening does not match its commitment, or a commitment input is malformed."""


def derived_salt_values(master: bytes, label: str, count: int) -> np.ndarray:
    """``count`` salt integers in [-2^14, 2^14) derived from ``master`` (HMAC-SHA256 in counter mode)."""
    out = []
    block = 0
    while len(out) < count:
        digest = hmac.new(master, f"{label}|{block}".encode(), hashlib.sha256).digest()
        for i in range(0, 32, 2):
            out.append(int.from_bytes(digest[i:i + 2], "big") % (1 << SALT_BITS_PER_VALUE) - (1 << (SALT_BITS_PER_VALUE - 1)))
        block += 1
    return np.array(out[:count], dtype=np.int64)


def poseidon_digest(values: np.ndarray, scale: int) -> str:
    """ezkl's Poseidon hash of an integer tensor at ``scale`` (as its "hashed" visibility computes it)."""
    import ezkl

    sf = float(1 << scale)
    felts = [ezkl.float_to_felt(float(v) / sf, scale) for v in np.asarray(values).ravel()]
    (digest,) = ezkl.poseidon_hash(felts)
    return digest


# ---- records -------------------------------------------------------------------------------------


@dataclass
class DatasetOpening:
    """What the prover keeps: quantised features, labels, master salt."""

    x: np.ndarray  # int64 [n, in_dim] at scale
    labels: np.ndarray  # int64 [n]
    master_salt: bytes
    batch: int
    classes: int
    scale: int

    def batch_tensor(self, k: int) -> np.ndarray:
        """The salted batch tensor ``[b + S, d + c]`` of batch ``k`` (the step circuit's input)."""
        b, d, c = self.batch, self.x.shape[1], self.classes
        rows = slice(k * b, (k + 1) * b)
        y = np.eye(c, dtype=np.int64)[self.labels[rows]] << self.scale
        s = salt_rows(d + c)
        salt = derived_salt_values(self.master_salt, f"batch|{k}", s * (d + c)).reshape(s, d + c)
        return np.vstack([np.hstack([self.x[rows], y]), salt])

    @property
    def num_batches(self) -> int:
        return self.x.shape[0] // self.batch

    def find(self, x: np.ndarray, label: int) -> int | None:
        """The index of the first example equal to (``x``, ``label``) among the batched ones, or None."""
        used = self.num_batches * self.batch
        hits = np.flatnonzero((self.x[:used] == x).all(axis=1) & (self.labels[:used] == label))
        return int(hits[0]) if hits.size else None


def dataset_root(batch_digests: list[str]) -> str:
    """The dataset's digest: SHA-256 over its batch digests in order (the verifier recomputes it)."""
    return hashlib.sha256(b"zkaudit-dataset-v2" + b"".join(bytes.fromhex(h) for h in batch_digests)).hexdigest()


def example_row(x: np.ndarray, label: int, classes: int, scale: int) -> np.ndarray:
    """One example as a batch row ``[1, d + c]``: features and one-hot label, integers at ``scale``."""
    y = np.eye(classes, dtype=np.int64)[int(label)] << scale
    return np.concatenate([np.asarray(x, dtype=np.int64), y])[None, :]


def commit_dataset(opening: DatasetOpening) -> dict:
    """The public record of a dataset: sizes and the per-batch Poseidon digests, and their root.

    Every proof about the dataset (training steps, membership, censorship, accuracy) binds to these
    batch digests, which the circuits compute from the very tensors they use: there is one view of
    the data, not two that a provider could make disagree."""
    n, d = opening.x.shape
    if n % opening.batch:
        raise CommitmentError(f"dataset of {n} examples does not split into batches of {opening.batch}; drop or pad examples")
    digests = [poseidon_digest(opening.batch_tensor(k), opening.scale) for k in range(opening.num_batches)]
    return {
        "kind": "dataset",
        "scheme": "poseidon-batches-salted",
        "digest": dataset_root(digests),
        "metadata": {"examples": n, "in_dim": d, "classes": opening.classes, "batch": opening.batch,
                     "scale": opening.scale, "batch_digests": digests},
    }


def new_dataset_opening(x: np.ndarray, labels: np.ndarray, *, batch: int, classes: int, scale: int) -> DatasetOpening:
    return DatasetOpening(np.asarray(x, dtype=np.int64), np.asarray(labels, dtype=np.int64), secrets.token_bytes(32),
                          batch, classes, scale)


@dataclass
class WeightsOpening:
    """Quantised weights and their salt rows: ``[in_dim, classes]`` (softmax regression) or, with
    ``hidden > 0``, the MLP head's ``w1``, ``w2`` packed as in :mod:`.mlp`."""

    w: np.ndarray
    salt: np.ndarray  # int64 [salt_rows(width), width]
    scale: int
    hidden: int = 0
    classes: int = 0  # of the MLP head (the softmax head's is w.shape[1])

    def salted(self) -> np.ndarray:
        return np.vstack([self.w, self.salt])

    @property
    def shape(self) -> list[int]:
        """The model's ``[in_dim, classes]``."""
        if self.hidden:
            return [self.w.shape[0] - self.hidden, self.classes]
        return list(self.w.shape)


def new_salt(classes: int) -> np.ndarray:
    return derived_salt_values(secrets.token_bytes(32), "weights", salt_rows(classes) * classes).reshape(-1, classes)


def commit_weights(opening: WeightsOpening) -> dict:
    """The public record of a weight tensor (Poseidon digest is what training proofs chain on)."""
    salted = np.ascontiguousarray(opening.salted(), dtype="<i8")
    return {
        "kind": "weights",
        "scheme": "poseidon-salted",
        "digest": poseidon_digest(salted, opening.scale),
        "metadata": {"shape": opening.shape, "hidden": opening.hidden, "scale": opening.scale,
                     "sha256_salted": hashlib.sha256(salted.tobytes()).hexdigest()},
    }
