"""ZkAudit proof of one SGD step through ezkl: setup, prove, verify time, proof size, peak RAM.

Each configuration runs in a fresh subprocess (so peak RAM is its own) with a fresh key cache.
"hashed" is the real statement (salted Poseidon commitments of batch and weights as public hashes);
"plain" proves the same step with private inputs/outputs (the baseline: ratios are against it), to
show the cost of the commitments. "batch-hash" proves only the in-circuit Poseidon hash of one salted
batch (the public batch digest a step binds to the committed dataset, plus a one-row sum so the graph
has an output): the cost of the dataset binding per step. "proofs/h" is 3600 / prove seconds on this
machine, one proving process at a time.

    .venv/bin/python benchmarks/zkaudit_prove.py [--large] [--out benchmarks/results/zkaudit_prove.json]

--large adds the hashed step at 2^16 rows and d=64,c=10,b=32 (2^17/2^18 rows, 5-11 GB RAM, minutes per
proof); shapes that do not fit this machine's memory are refused up front with the estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, resource, dataclasses
from pathlib import Path
import numpy as np
from skyplex_zkaudit.circuits import StepCircuit, _model, _slice, sgd_step_onnx
from skyplex_zkaudit.commitments import derived_salt_values, new_salt
from skyplex_zkaudit.prover import Prover, check_memory
cfg = json.loads(sys.argv[1]); root = Path(sys.argv[2])

@dataclasses.dataclass(frozen=True)
class Spec(StepCircuit):
    input_visibility: str = "hashed"
    output_visibility: str = "hashed"
    def key(self):
        return super().key() + "-" + self.input_visibility

def batch_hash_onnx(spec):
    from onnx import TensorProto, helper
    from skyplex_zkaudit.circuits import _const
    f = TensorProto.FLOAT
    inits = [_const("ax", [0, 1])]
    nodes = [_slice("batch", "rows", 0, spec.batch, 0, inits),
             _slice("rows", "first", 0, 1, 0, inits),
             helper.make_node("ReduceSum", ["first", "ax"], ["out"], keepdims=1)]
    return _model(nodes, [helper.make_tensor_value_info("batch", f, [spec.batch + spec.batch_salt_rows, spec.in_dim + spec.classes])],
                  [helper.make_tensor_value_info("out", f, [1, 1])], inits)

d, c, b = cfg["d"], cfg["c"], cfg["b"]
mode = cfg["mode"]
vis = "private" if mode == "plain" else "hashed"
spec = Spec(d, c, b, lr_q=max(1, round(0.5 / b * 256)), scale=8, logrows=cfg["logrows"], input_visibility=vis,
            output_visibility="private" if mode != "hashed" else "hashed")
build = batch_hash_onnx if mode == "batch-hash" else sgd_step_onnx  # each config has its own key dir
check_memory(spec.logrows)
p = Prover(root)
t = time.perf_counter(); p.srs(spec.logrows); srs_s = time.perf_counter() - t
t = time.perf_counter(); files = p.files(spec, build); setup_s = time.perf_counter() - t
rng = np.random.default_rng(0)
x = np.floor(rng.uniform(-1, 1, (b, d)) * 256 + 0.5).astype(np.int64)
y = np.eye(c, dtype=np.int64)[rng.integers(0, c, b)] << 8
batch = np.vstack([np.hstack([x, y]), derived_salt_values(b"s" * 32, "b", spec.batch_salt_rows * (d + c)).reshape(-1, d + c)])
w = np.vstack([np.floor(rng.uniform(-0.5, 0.5, (d, c)) * 256 + 0.5).astype(np.int64), new_salt(c)])
inputs = [batch] if mode == "batch-hash" else [batch, w, new_salt(c)]
t = time.perf_counter(); proof, _ = p.prove(files, 8, inputs); prove_s = time.perf_counter() - t
t = time.perf_counter(); ok = p.verify(proof, files.settings, files.vk, files.srs); verify_s = time.perf_counter() - t
rows = json.loads(files.settings.read_text())["num_rows"]
print(json.dumps(dict(cfg, ok=ok, rows=rows, setup_s=setup_s, prove_s=prove_s, verify_s=verify_s, srs_s=srs_s,
                      proof_bytes=len(bytes.fromhex(proof["hex_proof"][2:])), pk_mb=files.pk.stat().st_size / 2**20,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/zkaudit_prove.json")
    args = ap.parse_args()
    # hashed at 2^15 is what training proofs pin (14k rows); --large adds the earlier 2^16 row and d=64
    configs = [dict(d=16, c=4, b=8, mode="plain", logrows=15), dict(d=16, c=4, b=8, mode="hashed", logrows=15),
               dict(d=16, c=4, b=8, mode="batch-hash", logrows=15)]
    if args.large:
        configs += [dict(d=16, c=4, b=8, mode="hashed", logrows=16),
                    dict(d=64, c=10, b=32, mode="plain", logrows=17), dict(d=64, c=10, b=32, mode="hashed", logrows=18)]
    rows = []
    srs_cache = Path(tempfile.mkdtemp(prefix="zkaudit-bench-srs-"))  # one SRS per size for the whole run
    for cfg in configs:
        with tempfile.TemporaryDirectory(prefix="zkaudit-bench-") as tmp:
            srs = srs_cache / f"kzg{cfg['logrows']}.srs"
            (Path(tmp) / "srs").mkdir()
            if srs.exists():
                shutil.copy2(srs, Path(tmp) / "srs" / srs.name)
            res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg), tmp], capture_output=True, text=True)
            if not srs.exists() and (Path(tmp) / "srs" / srs.name).exists():
                shutil.copy2(Path(tmp) / "srs" / srs.name, srs)
        if res.returncode != 0:
            rows.append(dict(cfg, error=res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"))
        else:
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    shutil.rmtree(srs_cache, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    base = {(r["d"], r["c"], r["b"], r["logrows"]): r for r in rows if r.get("mode") == "plain" and "error" not in r}
    print("shape d,c,b | mode | rows (2^k) | setup s | prove s | x plain | proofs/h | verify s | proof KB | pk MB | peak RAM MB | ok")
    for r in rows:
        if "error" in r:
            print(f"{r['d']},{r['c']},{r['b']} | {r['mode']} | 2^{r['logrows']} | refused/failed: {r['error']}")
            continue
        ref = base.get((r["d"], r["c"], r["b"], r["logrows"]))  # same shape and rows: the ratio is the cost
        ratio = f"{r['prove_s'] / ref['prove_s']:.2f}" if ref else "-"
        print(f"{r['d']},{r['c']},{r['b']} | {r['mode']} | {r['rows']} (2^{r['logrows']}) | {r['setup_s']:.1f} | "
              f"{r['prove_s']:.1f} | {ratio} | {3600 / r['prove_s']:.0f} | {r['verify_s']:.2f} | {r['proof_bytes'] / 1024:.1f} | "
              f"{r['pk_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['ok']}")


if __name__ == "__main__":
    main()
