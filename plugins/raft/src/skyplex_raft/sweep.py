"""The effect of RAFT's two knobs, P (share of training examples that keep their oracle) and k (documents
shown with each question), measured by a sweep and drawn as a plot.

Each cell of the grid builds a dataset from the same source with its ``(P, k)`` -- the same seed, so the
same oracle chunks are held out in every cell -- then, by default, LoRA-tunes the base model on it and
scores the tuned model with the ``raft`` evaluator on the cell's held-out split, whose oracle share is
``test_p`` in every cell (so models trained with different P face the same mix). Without fine-tuning,
the given model is scored on each cell's held-out split with oracle share P: the effect of the mix and
of the number of documents on a fixed model. Results go to ``sweep.json``; :func:`plot_sweep` draws any
metric of them against P and against k (matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .builder import RaftOptions

SWEEP_FILE = "sweep.json"


def parse_knob(text: str, name: str) -> list[float]:
    """The comma-separated values of knob ``name`` (``p`` or ``k``), checked: P in [0, 1], k a whole
    number of at least 1, no repeats."""
    parts = [part.strip() for part in str(text).split(",")]
    if not text or not all(parts):
        raise InvalidInputError(f"{name}={text!r}: give comma-separated values, e.g. {name}="
                                f"{'0.5,0.8,1.0' if name == 'p' else '1,2,4'}", field=name)
    values: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise InvalidInputError(f"{name}={part!r} is not a number", field=name) from None
        if name == "p" and not 0.0 <= value <= 1.0:
            raise InvalidInputError(f"p={part} is outside [0, 1]; P is the share of examples that keep their oracle",
                                    field="p")
        if name == "k" and (not value.is_integer() or value < 1):
            raise InvalidInputError(f"k={part}: k counts the documents shown, a whole number of at least 1",
                                    field="k")
        if value in values:
            raise InvalidInputError(f"{name}={part} is given twice", field=name)
        values.append(value)
    return values


def cell_name(p: float, k: int) -> str:
    """The cell's folder name: ``p0.5-k2``."""
    return f"p{p:g}-k{k}"


def _score_dict(report: Any) -> dict[str, dict[str, float]]:
    return {s.metric: {"value": s.value, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": s.n}
            for s in report.scores}


def run_sweep(source: str, out_dir: Path, ps: Sequence[float], ks: Sequence[int], *,
              base_model: str = "local", data_dir: Path | None = None, finetune: bool = True,
              backend: Any = None, test_p: float = 0.5, build: dict[str, Any] | None = None,
              lora: dict[str, Any] | None = None, suite: dict[str, Any] | None = None,
              max_chunks: int | None = None, chunk_tokens: int | None = None, keep_models: bool = False,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Sweep P over ``ps`` and k over ``ks`` on ``source``'s documents into ``out_dir``; returns (and writes
    as ``out_dir/sweep.json``) the settings and, per cell, the evaluator's scores.

    ``finetune`` (default): each cell LoRA-tunes ``base_model`` (``lora``: options of the fine-tune) and
    scores it with the documents on a held-out split of oracle share ``test_p``; the merged model is
    deleted after scoring unless ``keep_models`` (the adapter stays). Without it, ``backend`` (a kernel
    model backend) is scored on each cell's split, whose oracle share is P. ``build`` holds further
    builder options (distractors, test_fraction, seed, abstain), ``max_chunks`` caps the corpus and
    ``chunk_tokens`` cuts documents into pieces of at most that many words; ``suite``
    the evaluator's options (limit, max_tokens, bootstrap, seed). Every dataset is built before any
    training starts, so a ``k`` the corpus cannot serve fails at once."""
    from skyplex.interfaces import Subject, Suite

    from .evaluate import RaftEvaluator
    from .trainer import build_dataset

    ps, ks = [float(p) for p in ps], [int(k) for k in ks]
    if not ps or not ks:
        raise InvalidInputError("the sweep needs at least one value of p and of k", field="p" if not ps else "k")
    for p in ps:
        RaftOptions(p=p).validate()
    extra = sorted(set(build or {}) - {"distractors", "test_fraction", "seed", "abstain"})
    if extra:
        raise InvalidInputError(f"build option {extra[0]!r} cannot be swept over here; give distractors, "
                                "test_fraction, seed or abstain", field=extra[0])
    if not finetune and backend is None:
        raise InvalidInputError("a sweep without fine-tuning needs a model backend to score", field="backend")
    say = progress or (lambda message: None)
    build = dict(build or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for p in ps:
        for k in ks:
            options = RaftOptions(p=p, k=k, test_p=test_p if finetune else None, **build)
            options.validate()
            artifacts[(p, k)] = build_dataset(source, out_dir / cell_name(p, k) / "raft.jsonl", options,
                                              max_chunks=max_chunks, chunk_tokens=chunk_tokens)
            say(f"built {cell_name(p, k)}: {artifacts[(p, k)].metadata['train_examples']} train examples")
    cells = []
    evaluator = RaftEvaluator(backends={"model": backend} if backend is not None else None)
    try:
        for (p, k), artifact in artifacts.items():
            folder = out_dir / cell_name(p, k)
            if finetune:
                from .finetune import finetune_lora, lora_options_from

                options, rest = lora_options_from({**(lora or {}), "merge": True})
                if rest:
                    raise InvalidInputError(f"unknown fine-tune option {sorted(rest)[0]!r}", field=sorted(rest)[0])
                if data_dir is None:
                    from skyplex.config import Settings

                    data_dir = Path(Settings.load().data_dir)
                summary = finetune_lora(Path(artifact.path), base_model, folder / "lora", options, data_dir=data_dir)
                subject = Subject(name="raft", model=summary["model_dir"])
                say(f"trained {cell_name(p, k)}: {summary['steps']} steps, loss {summary['final_loss']:.2f}")
            else:
                subject = Subject(name="model", backend="model")
            report = evaluator.evaluate([subject], Suite(name=f"raft-sweep-{cell_name(p, k)}", options={
                **(suite or {}), "dataset": artifact.metadata["test_path"]}))
            evaluator.close()
            if finetune and not keep_models:
                shutil.rmtree(folder / "lora" / "model", ignore_errors=True)  # half a gigabyte per cell
            cells.append({"p": p, "k": k, "dataset": artifact.path, "questions": report.metadata["questions"],
                          "scores": _score_dict(report)})
            say(f"scored {cell_name(p, k)}")
    finally:
        evaluator.close()
    results = {"source": source, "finetune": finetune, "test_p": test_p if finetune else None,
               "ps": ps, "ks": ks, "build": build, "lora": lora or {}, "suite": suite or {}, "cells": cells}
    path = out_dir / SWEEP_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, path)
    return results


def load_sweep(path: Path) -> dict[str, Any]:
    """The results a sweep wrote (``sweep.json``), refusing a file that is missing or not a sweep's."""
    if not path.is_file():
        raise InvalidInputError(f"sweep results {path}: no such file; run `skyplex raft sweep` first", field="results")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        cells = results["cells"]
        assert isinstance(cells, list) and all({"p", "k", "scores"} <= set(c) for c in cells)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise InvalidInputError(f"sweep results {path}: not a sweep's sweep.json (cells with p, k and scores)",
                                field="results") from None
    return results


def metric_series(results: dict[str, Any], metric: str) -> dict[str, dict[float, list[tuple[float, dict]]]]:
    """The points of ``metric``: ``{"by_p": {k: [(p, score)...]}, "by_k": {p: [(k, score)...]}}``, each
    line sorted; a cell without the metric (no item of its condition) leaves a gap."""
    known = sorted({m for c in results["cells"] for m in c["scores"]})
    if metric not in known:
        raise InvalidInputError(f"metric {metric!r} is not in these results; choose one of {', '.join(known)}",
                                field="metric")
    by_p: dict[float, list] = {}
    by_k: dict[float, list] = {}
    for cell in results["cells"]:
        score = cell["scores"].get(metric)
        if score is None:
            continue
        by_p.setdefault(cell["k"], []).append((cell["p"], score))
        by_k.setdefault(cell["p"], []).append((cell["k"], score))
    return {"by_p": {k: sorted(v, key=lambda t: t[0]) for k, v in sorted(by_p.items())},
            "by_k": {p: sorted(v, key=lambda t: t[0]) for p, v in sorted(by_k.items())}}


def plot_sweep(results: dict[str, Any], metric: str, path: Path) -> dict[str, Any]:
    """Draw ``metric`` against P (a line per k) and against k (a line per P), with 95% interval bars, into
    the PNG ``path``; returns the series drawn (see :func:`metric_series`)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the plot goes to a file
    import matplotlib.pyplot as plt

    series = metric_series(results, metric)
    what = "training P" if results.get("finetune", True) else "P (oracle share)"
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, lines, label, key in ((left, series["by_p"], what, "k"), (right, series["by_k"], "k (documents)", "P")):
        for value, points in lines.items():
            xs = [x for x, _ in points]
            ys = [s["value"] for _, s in points]
            low = [max(0.0, s["value"] - s["ci_low"]) if _finite(s["ci_low"]) else 0.0 for _, s in points]
            high = [max(0.0, s["ci_high"] - s["value"]) if _finite(s["ci_high"]) else 0.0 for _, s in points]
            axis.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=f"{key}={value:g}")
        if key == "P":
            axis.set_xticks(sorted(results["ks"]))  # k is a count: no ticks between whole numbers
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    left.set_ylabel(metric)
    figure.suptitle(f"RAFT sweep: {metric} (95% bootstrap intervals)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return series


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
