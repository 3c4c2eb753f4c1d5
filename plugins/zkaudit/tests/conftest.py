"""Shared fixtures for the ZkAudit tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

import numpy as np
import pytest
from skyplex.interfaces import Artifact, Claim


def small_dataset(seed: int = 0, n: int = 8, d: int = 8, c: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-1, 1, (n, d)).round(3).tolist(), "labels": rng.integers(0, c, n).tolist(),
            "classes": c, "batch": 4}


@pytest.fixture(scope="session")
def make_dataset():
    return small_dataset


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory):
    """One data dir per session so the proving keys are generated once."""
    return tmp_path_factory.mktemp("zkaudit-data")


@pytest.fixture(scope="session")
def zk(session_data_dir):
    from skyplex_zkaudit.auditor import ZkAuditor

    return ZkAuditor(session_data_dir)


@pytest.fixture(scope="session")
def dataset_data():
    return small_dataset()


@pytest.fixture(scope="session")
def dataset_commitment(zk, dataset_data):
    return zk.commit(Artifact(kind="dataset", data=dataset_data))


@pytest.fixture(scope="session")
def weights_commitment(zk):
    rng = np.random.default_rng(1)
    return zk.commit(Artifact(kind="weights", data={"w": rng.uniform(-0.5, 0.5, (8, 4)).round(3).tolist()}))


@pytest.fixture(scope="session")
def training_proof(zk, dataset_commitment, weights_commitment):
    """One real two-step training proof (the smallest that has a last step to drop and steps to reorder),
    made once per session (proving is the slow part) and shared by the proof, mutation and gateway
    tests; only request it from tests marked slow."""
    claim = Claim(kind="training", commitments=[dataset_commitment.id, weights_commitment.id], params={"lr": 0.5, "steps": 2})
    seen = []
    proof = zk.prove(claim, progress=lambda f, m: seen.append((f, m)))
    assert seen and seen[-1][0] == 1.0
    return proof


@pytest.fixture(scope="session")
def censorship_proof(zk, dataset_commitment, dataset_data):
    """One real censorship-count proof of the session dataset (slow; shared)."""
    label = dataset_data["labels"][0]
    return zk.prove(Claim(kind="audit:censorship", commitments=[dataset_commitment.id], params={"label": label}))


@pytest.fixture(scope="session")
def membership_proof(zk, dataset_commitment, dataset_data):
    """A real membership proof of example 2 of the session dataset (the smallest ezkl circuit)."""
    return zk.prove(Claim(kind="audit:membership", commitments=[dataset_commitment.id],
                          params={"x": dataset_data["x"][2], "label": dataset_data["labels"][2]}))
