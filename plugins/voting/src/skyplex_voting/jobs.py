"""Sampling as a kernel job: progress in the job row, cancellable, resumable through its cache file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyplex.errors import InvalidInputError

from .sampling import load_queries, sample_task

if TYPE_CHECKING:
    from skyplex.jobs import Job
    from skyplex.kernel import Kernel


def _run_sampling(ctx: Any, *, kernel: Kernel, queries: str, backend: str, k: int, out: str, answer_kind: str,
                  temperature: float, max_tokens: int, seed: int) -> dict:
    qs = load_queries(queries, answer_kind=answer_kind)
    model = kernel.models.get(backend)
    cache = Path(out).with_suffix(".cache.jsonl")
    records = sample_task(model, qs, k, temperature=temperature, max_tokens=max_tokens, seed=seed,
                          answer_kind=answer_kind, cache=cache, progress=ctx.progress,
                          check_cancelled=ctx.check_cancelled)
    path = Path(out)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({"id": r["id"], "answer": r["answer"], "answers": r["answers"], "texts": r["texts"],
                                 "logprobs": r["logprobs"], "completion_tokens": r["completion_tokens"]}) + "\n")
    tmp.replace(path)  # readers never see a half-written samples file
    abstained = sum(a is None for r in records for a in r["answers"])
    return {"out": str(path), "queries": len(records), "samples_per_query": k, "abstentions": abstained,
            "completion_tokens": sum(r["completion_tokens"] for r in records)}


def submit_sampling(kernel: Kernel, *, queries: str, backend: str = "local", k: int = 8, out: str,
                    answer_kind: str = "letter", temperature: float = 1.0, max_tokens: int = 4, seed: int = 0) -> Job:
    """Queue a sampling job (kind ``voting-sample``); its cache ``<out>.cache.jsonl`` makes a rerun resume."""
    load_queries(queries, answer_kind=answer_kind)  # refuse bad input now, not inside the job
    kernel.models.get(backend)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"K must be a whole number of samples >= 1, got {k!r}", field="k")
    params = {"queries": str(queries), "backend": backend, "k": k, "out": str(out), "answer_kind": answer_kind,
              "temperature": temperature, "max_tokens": max_tokens, "seed": seed}
    return kernel.jobs.submit(lambda ctx, **p: _run_sampling(ctx, kernel=kernel, **p), name=f"voting sample {Path(out).name}",
                              kind="voting-sample", params=params)
