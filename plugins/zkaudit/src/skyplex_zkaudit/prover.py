"""The ezkl (Halo2/KZG) driver: pinned settings, a local or ceremony SRS, keys cached per circuit.

Layout under ``root`` (``<data dir>/zkaudit/circuits`` by default)::

    srs/kzg<logrows>.srs        SRS made locally by ezkl.gen_srs: FOR TESTING ONLY (whoever ran it
                                knows the toxic waste); pass srs_path= for a ceremony SRS
    <circuit key>/model.onnx    the graph (circuits.py), settings.json (pinned, never calibrated),
                  model.compiled, pk, vk   (setup runs once per circuit and is cached)

A verifier needs only the public files: settings.json, vk and the SRS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

#: Measured peak prover memory is about 45 KB per circuit row (2^15 rows hashed: 1.5 GB; the issue's
#: 2^17: 5 GB, 2^18: 11 GB) plus the interpreter and ezkl's tables.
BYTES_PER_ROW = 46_000
BASE_BYTES = 400 << 20


class ProverError(RuntimeError):
    """Proving could not run (settings, keys, SRS) or the shape does not fit this machine."""


def estimated_prover_bytes(logrows: int) -> int:
    """Peak RAM the prover needs for a circuit of ``2**logrows`` rows (estimate, see BYTES_PER_ROW)."""
    return BASE_BYTES + BYTES_PER_ROW * (1 << logrows)


def check_memory(logrows: int, available: int | None = None) -> None:
    """Refuse up front, with the estimate, a circuit the machine cannot hold (never crash mid-proof)."""
    import psutil

    need = estimated_prover_bytes(logrows)
    have = psutil.virtual_memory().available if available is None else available
    if need > have:
        raise ProverError(
            f"a circuit of 2^{logrows} rows needs about {need / 2**30:.1f} GiB of RAM to prove, but only "
            f"{have / 2**30:.1f} GiB is available; use a smaller shape (batch, in_dim) or a larger machine"
        )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class CircuitFiles:
    """The cached files of one circuit."""

    dir: Path
    srs: Path

    @property
    def onnx(self) -> Path:
        return self.dir / "model.onnx"

    @property
    def settings(self) -> Path:
        return self.dir / "settings.json"

    @property
    def compiled(self) -> Path:
        return self.dir / "model.compiled"

    @property
    def pk(self) -> Path:
        return self.dir / "pk"

    @property
    def vk(self) -> Path:
        return self.dir / "vk"


class Prover:
    """Builds, sets up, proves and verifies ezkl circuits identified by a spec with ``key()``,
    ``scale`` and ``logrows``; ``build`` is the function returning the spec's ONNX bytes."""

    def __init__(self, root: Path, srs_path: Path | None = None) -> None:
        self.root = Path(root)
        self.srs_path = Path(srs_path) if srs_path else None

    # ---- setup ---------------------------------------------------------------------------------
    def srs(self, logrows: int) -> Path:
        """The SRS for ``logrows``: the ceremony file when given, else a local test SRS (made once)."""
        if self.srs_path is not None:
            if not self.srs_path.exists():
                raise ProverError(f"SRS file {self.srs_path} does not exist; pass the path of a downloaded ceremony SRS")
            return self.srs_path
        path = self.root / "srs" / f"kzg{logrows}.srs"
        if not path.exists():
            import ezkl

            path.parent.mkdir(parents=True, exist_ok=True)
            log.warning("generating a local SRS for 2^%d rows at %s: for testing only, not for real audits", logrows, path)
            tmp = path.with_suffix(".tmp")
            ezkl.gen_srs(str(tmp), logrows)
            tmp.replace(path)
        return path

    def files(self, spec: Any, build: Callable[[Any], bytes], *, keys: bool = True, need_srs: bool = True,
              progress: Callable[[float, str], None] | None = None) -> CircuitFiles:
        """Settings (pinned from the spec), compiled circuit and, with ``keys``, pk/vk: cached per key."""
        import ezkl

        files = CircuitFiles(self.root / spec.key(), self.srs(spec.logrows) if need_srs or keys else Path())
        files.dir.mkdir(parents=True, exist_ok=True)
        if not files.compiled.exists():
            files.onnx.write_bytes(build(spec))
            args = ezkl.PyRunArgs()
            args.input_scale = spec.scale
            args.param_scale = spec.scale
            args.logrows = spec.logrows
            args.input_visibility = getattr(spec, "input_visibility", "hashed")
            args.output_visibility = getattr(spec, "output_visibility", "hashed")
            args.param_visibility = "fixed"
            if not ezkl.gen_settings(str(files.onnx), str(files.settings), py_run_args=args):
                raise ProverError(f"ezkl could not generate settings for {spec.key()}")
            settings = json.loads(files.settings.read_text())
            if settings["num_rows"] >= 1 << spec.logrows:
                raise ProverError(f"circuit {spec.key()} needs {settings['num_rows']} rows, more than 2^{spec.logrows}; raise logrows")
            scales = settings.get("model_output_scales", [spec.scale])
            if any(s != spec.scale for s in scales):
                # chaining needs w_out quantised exactly like the next step's w input
                raise ProverError(f"circuit {spec.key()}: output scales {scales} differ from the input scale {spec.scale}")
            if not ezkl.compile_circuit(str(files.onnx), str(files.compiled), str(files.settings)):
                raise ProverError(f"ezkl could not compile {spec.key()}")
        if keys and not files.vk.exists():
            check_memory(spec.logrows)
            if progress:
                progress(0.0, f"key generation for {spec.key()} (once per shape)")
            t = time.perf_counter()
            ezkl.setup(str(files.compiled), str(files.dir / "vk.tmp"), str(files.dir / "pk.tmp"), str(files.srs))
            (files.dir / "pk.tmp").replace(files.pk)
            (files.dir / "vk.tmp").replace(files.vk)
            log.info("setup of %s took %.1f s", spec.key(), time.perf_counter() - t)
        return files

    # ---- prove / verify ------------------------------------------------------------------------
    def prove(self, files: CircuitFiles, scale: int, inputs: list[np.ndarray]) -> tuple[dict, list[np.ndarray]]:
        """Prove the circuit on integer inputs (at ``scale``); returns (ezkl proof JSON, outputs as ints).

        Inputs are passed as exact multiples of 2^-scale so ezkl's quantisation is the identity.
        """
        import ezkl

        with tempfile.TemporaryDirectory(prefix="zkaudit-") as tmp:
            witness, outputs = self._witness(files, scale, inputs, Path(tmp))
            proof_path = Path(tmp) / "proof.json"
            ezkl.prove(str(witness), str(files.compiled), str(files.pk), str(proof_path), str(files.srs))
            proof = json.loads(proof_path.read_text())
        return proof, outputs

    def witness(self, files: CircuitFiles, scale: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The circuit's outputs (ints at ``scale``) from ezkl's witness generation, without proving:
        what the proof would attest, in seconds and without keys (used by the witness-level tests)."""
        with tempfile.TemporaryDirectory(prefix="zkaudit-") as tmp:
            return self._witness(files, scale, inputs, Path(tmp))[1]

    @staticmethod
    def _witness(files: CircuitFiles, scale: int, inputs: list[np.ndarray], tmp: Path) -> tuple[Path, list[np.ndarray]]:
        import ezkl

        data = tmp / "input.json"
        sf = float(1 << scale)
        data.write_text(json.dumps({"input_data": [(np.asarray(a, dtype=np.float64).ravel() / sf).tolist() for a in inputs]}))
        witness = tmp / "witness.json"
        ezkl.gen_witness(str(data), str(files.compiled), str(witness))
        wj = json.loads(witness.read_text())
        outputs = [np.rint(np.asarray(o, dtype=np.float64) * sf).astype(np.int64)
                   for o in wj["pretty_elements"]["rescaled_outputs"]]
        return witness, outputs

    @staticmethod
    def verify(proof: dict, settings: Path, vk: Path, srs: Path) -> bool:
        """ezkl's verifier on a proof JSON; False (never an exception) for a malformed proof."""
        import ezkl

        with tempfile.TemporaryDirectory(prefix="zkaudit-") as tmp:
            path = Path(tmp) / "proof.json"
            path.write_text(json.dumps(proof))
            try:
                return bool(ezkl.verify(str(path), str(settings), str(vk), str(srs)))
            except Exception as exc:  # ezkl raises on undecodable proofs; that is a failed check
                log.info("ezkl rejected a proof: %s", exc)
                return False


def instances(proof: dict) -> list[str]:
    """The proof's public instances (Poseidon hashes, then any public outputs), flattened hex strings."""
    return [str(v) for group in proof.get("instances", []) for v in group]


def compact(proof: dict) -> dict:
    """What a bundle stores of an ezkl proof: its public instances and proof bytes (hex), nothing else.
    ezkl's JSON also carries copies (``hex_proof``, ``pretty_public_inputs``) and a timestamp that its
    verifier does not read; leaving them out leaves nothing in a bundle that the verifier ignores."""
    return {"instances": instances(proof), "proof": bytes(proof["proof"]).hex()}


def expand(step: dict) -> dict:
    """The ezkl proof JSON of a compact step (see :func:`compact`)."""
    return {"instances": [list(step["instances"])], "proof": list(bytes.fromhex(step["proof"]))}


def export_public(files: CircuitFiles, dest: Path) -> None:
    """Copy what a verifier needs (settings.json, vk, srs) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in (files.settings, files.vk):
        shutil.copy2(src, dest / src.name)
    shutil.copy2(files.srs, dest / "kzg.srs")
