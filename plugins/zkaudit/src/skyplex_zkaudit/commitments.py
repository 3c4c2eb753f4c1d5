"""Salted commitments: datasets (per-example Merkle leaves + per-batch Poseidon digests) and weights.

- Dataset: each example's leaf is ``SHA-256(0x00 | salt_i | index | x_i | label_i)`` with
  ``salt_i = HMAC-SHA256(master_salt, "leaf" | i)``, so revealing one leaf's salt (a membership
  proof) reveals nothing about the others. Inner nodes are ``SHA-256(0x01 | left | right)``; an odd
  node is promoted. The root is the public digest.
- The same record publishes, for each training batch, the Poseidon hash ezkl computes of the salted
  batch tensor (``circuits.sgd_step_onnx`` layout): the training proofs' public batch hashes must
  equal these. Batch salts are also derived from the master salt.
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


# ---- Merkle tree ---------------------------------------------------------------------------------


def leaf_salt(master: bytes, index: int) -> bytes:
    return hmac.new(master, f"leaf|{index}".encode(), hashlib.sha256).digest()


def leaf_hash(salt: bytes, index: int, x: np.ndarray, label: int) -> bytes:
    """The salted leaf of example ``index`` (features as int64 at the record's scale)."""
    body = np.ascontiguousarray(x, dtype="<i8").tobytes() + int(label).to_bytes(8, "big", signed=True)
    return hashlib.sha256(b"\x00" + salt + index.to_bytes(8, "big") + body).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_levels(leaves: list[bytes]) -> list[list[bytes]]:
    if not leaves:
        raise CommitmentError("cannot commit to an empty dataset")
    levels = [leaves]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        levels.append([_node(cur[i], cur[i + 1]) if i + 1 < len(cur) else cur[i] for i in range(0, len(cur), 2)])
    return levels


def merkle_path(levels: list[list[bytes]], index: int) -> list[list[str]]:
    """Siblings from leaf to root as (side, hex): side 'L' means the sibling is on the left."""
    path = []
    for level in levels[:-1]:
        sib = index ^ 1
        if sib < len(level):
            path.append(["L" if sib < index else "R", level[sib].hex()])
        index //= 2
    return path


def merkle_path_sides(n: int, index: int) -> list[str]:
    """The sides of the siblings on the path to leaf ``index`` of ``n`` (the shape any valid path has)."""
    sides = []
    while n > 1:
        sib = index ^ 1
        if sib < n:
            sides.append("L" if sib < index else "R")
        index //= 2
        n = (n + 1) // 2
    return sides


def merkle_root_from_path(leaf: bytes, path: list) -> bytes:
    node = leaf
    for side, sib_hex in path:
        sib = bytes.fromhex(sib_hex)
        node = _node(sib, node) if side == "L" else _node(node, sib)
    return node


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

    def leaves(self) -> list[bytes]:
        return [leaf_hash(leaf_salt(self.master_salt, i), i, self.x[i], int(self.labels[i])) for i in range(len(self.labels))]


def commit_dataset(opening: DatasetOpening) -> dict:
    """The public record of a dataset: Merkle root, sizes, per-batch Poseidon digests."""
    n, d = opening.x.shape
    if n % opening.batch:
        raise CommitmentError(f"dataset of {n} examples does not split into batches of {opening.batch}; drop or pad examples")
    root = merkle_levels(opening.leaves())[-1][0].hex()
    return {
        "kind": "dataset",
        "scheme": "sha256-merkle-salted+poseidon-batches",
        "digest": root,
        "metadata": {
            "examples": n, "in_dim": d, "classes": opening.classes, "batch": opening.batch, "scale": opening.scale,
            "batch_digests": [poseidon_digest(opening.batch_tensor(k), opening.scale) for k in range(opening.num_batches)],
        },
    }


def new_dataset_opening(x: np.ndarray, labels: np.ndarray, *, batch: int, classes: int, scale: int) -> DatasetOpening:
    return DatasetOpening(np.asarray(x, dtype=np.int64), np.asarray(labels, dtype=np.int64), secrets.token_bytes(32),
                          batch, classes, scale)


@dataclass
class WeightsOpening:
    """Quantised weights ``[in_dim, classes]`` and their salt rows."""

    w: np.ndarray
    salt: np.ndarray  # int64 [salt_rows(classes), classes]
    scale: int

    def salted(self) -> np.ndarray:
        return np.vstack([self.w, self.salt])


def new_salt(classes: int) -> np.ndarray:
    return derived_salt_values(secrets.token_bytes(32), "weights", salt_rows(classes) * classes).reshape(-1, classes)


def commit_weights(opening: WeightsOpening) -> dict:
    """The public record of a weight tensor (Poseidon digest is what training proofs chain on)."""
    salted = np.ascontiguousarray(opening.salted(), dtype="<i8")
    return {
        "kind": "weights",
        "scheme": "poseidon-salted",
        "digest": poseidon_digest(salted, opening.scale),
        "metadata": {"shape": list(opening.w.shape), "scale": opening.scale,
                     "sha256_salted": hashlib.sha256(salted.tobytes()).hexdigest()},
    }
