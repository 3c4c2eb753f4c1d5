"""The Python API the CLI, the gateway routes and the evaluator share.

Samples files are JSONL, one query per line: ``{"id", "answer", "answers": [...]}`` where an answer
is a normalised string or ``null`` (could not be parsed). ``skyplex voting sample`` writes them; any
other sampler can too. Counts files are JSON ``{"counts": [[correct, wrong_1..wrong_L, abstain], ...]}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError

from .answers import counts_table
from .fit import LawFit, bootstrap_band, check_counts, empirical_curves, fit_law
from .law import check_kmax, check_tie_rule, cost_optimal_k, optimal_k


def load_samples(source: str | Path | Sequence[dict]) -> list[dict]:
    """Sample records from a JSONL file (or a list), checked: each has ``answer`` and ``answers``."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"samples file {path} does not exist; write it with 'skyplex voting sample'",
                                    field="samples")
        records = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{path} line {i} is not JSON ({exc.msg})", field="samples") from None
    else:
        records = list(source)
    if not records:
        raise InvalidInputError("no sample records: each needs 'answer' and a list 'answers'", field="samples")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "answer" not in rec or not isinstance(rec.get("answers"), list):
            raise InvalidInputError(f"sample record {i} needs 'answer' and a list 'answers' (null = unparsable)",
                                    field=f"samples[{i}]")
        if rec["answer"] is None or str(rec["answer"]).strip() == "":
            raise InvalidInputError(f"sample record {i} has no reference answer", field=f"samples[{i}].answer")
        bad = [a for a in rec["answers"] if a is not None and not isinstance(a, str)]
        if bad:
            raise InvalidInputError(f"sample record {i} has a non-string answer {bad[0]!r}; answers are strings or null",
                                    field=f"samples[{i}].answers")
    return records


def counts_from_samples(records: Sequence[dict], *, use: int | None = None, skip: int = 0,
                        n_wrong: int | None = None) -> dict[str, Any]:
    """The law's count table from sample records, using answers ``skip .. skip + use`` of each query.

    Returns ``counts``, ``abstentions`` (total unparsable answers, reported apart), ``lumped`` and
    ``queries``. Answers are compared as stored, so they must be normalised the same way (the
    samplers here normalise them; a reference is stripped, and upper-cased when it is one letter).
    """
    if use is not None and (isinstance(use, bool) or not isinstance(use, int) or use < 1):
        raise InvalidInputError(f"samples per query must be >= 1, got {use!r}", field="m")
    answers = []
    refs = []
    for rec in records:
        got = rec["answers"][skip: None if use is None else skip + use]
        answers.append(got)
        ref = str(rec["answer"]).strip()
        refs.append(ref.upper() if len(ref) == 1 else ref)
    if use is not None:
        short = [str(r.get("id", i)) for i, (r, a) in enumerate(zip(records, answers)) if len(a) < use]
        if short:
            raise InvalidInputError(f"{len(short)} queries have fewer than {use} answers after the first {skip} "
                                    f"(e.g. {short[0]}); sample more or lower m", field="m")
    rows, lumped = counts_table(answers, refs, n_wrong=n_wrong)
    counts = np.array(rows, dtype=float)
    return {"counts": counts, "abstentions": int(counts[:, -1].sum() - sum(lumped)), "lumped": int(sum(lumped)),
            "queries": len(rows), "answers": int(counts.sum())}


def load_counts(source: str | Path | dict | Sequence[dict]) -> dict[str, Any]:
    """Counts from a samples JSONL file, a counts JSON file, or already-loaded data."""
    if isinstance(source, (str, Path)) and str(source).endswith(".json") and Path(source).is_file():
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source} is not JSON ({exc.msg})", field="counts") from None
        source = data
    if isinstance(source, dict):
        if "counts" not in source:
            raise InvalidInputError("a counts file needs a 'counts' table of [correct, wrong..., abstain] rows",
                                    field="counts")
        C = check_counts(source["counts"])
        return {"counts": C, "abstentions": int(C[:, -1].sum()), "lumped": 0, "queries": len(C), "answers": int(C.sum())}
    return counts_from_samples(load_samples(source))


def _number(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)) or float(value) < 0 or (positive and float(value) == 0):
        need = "> 0" if positive else ">= 0"
        raise InvalidInputError(f"{name} must be a finite number {need}, got {value!r}", field=name)
    return float(value)


def call_cost(*, input_price: float, prompt_tokens: float, completion_tokens: float,
              output_price: float | None = None) -> float:
    """Dollars of one call: prices are per million tokens (``output_price`` defaults to ``input_price``)."""
    inp = _number(input_price, "input_price")
    out = inp if output_price is None else _number(output_price, "output_price")
    return (_number(prompt_tokens, "prompt_tokens") * inp + _number(completion_tokens, "completion_tokens") * out) / 1e6


PRICE_FIELDS = ("input_price", "prompt_tokens", "completion_tokens", "value_per_correct")


def priced_call(*, input_price: float | None = None, output_price: float | None = None,
                prompt_tokens: float | None = None, completion_tokens: float | None = None,
                value_per_correct: float | None = None, spell: Any = str) -> float | None:
    """The cost per call from a price and token counts, or None when no price was given at all.

    A partial price is an error naming what is missing (``spell`` turns a field name into how the
    caller wrote it, e.g. ``--input-price`` on the command line).
    """
    given = {"input_price": input_price, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "value_per_correct": value_per_correct}
    if all(v is None for v in given.values()) and output_price is None:
        return None
    missing = [name for name, v in given.items() if v is None]
    if missing:
        raise InvalidInputError(f"the cost-aware K needs {', '.join(spell(n) for n in missing)} as well (a price, "
                                "the tokens of one call, and what a correct answer is worth)", field=missing[0])
    return call_cost(input_price=input_price, output_price=output_price, prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens)


def cost_summary(curve: Sequence[float], *, cost_per_call: float, value_per_correct: float) -> dict[str, Any]:
    """The K that maximises ``value_per_correct * accuracy(K) - cost_per_call * K`` per query, beside the
    accuracy-optimal K: what each costs and earns, so the trade is visible."""
    cost = _number(cost_per_call, "cost_per_call")
    value = _number(value_per_correct, "value_per_correct", positive=True)
    arr = np.asarray(curve, dtype=float)
    k, net = cost_optimal_k(arr, cost_per_call=cost, value_per_correct=value)
    k_acc, _ = optimal_k(arr)
    return {"cost_per_call": cost, "value_per_correct": value, "k_cost_opt": k,
            "accuracy_at_k_cost_opt": float(arr[k - 1]), "cost_per_query_at_k_cost_opt": cost * k,
            "net_value_per_query": net, "k_accuracy_opt": k_acc,
            "net_value_per_query_at_k_accuracy_opt": float(value * arr[k_acc - 1] - cost * k_acc)}


def fit_summary(source: Any, *, m: int | None = None, kmax: int = 100, tie: str = "random",
                components: int | str = "auto", draws: int = 8, seed: int = 0, level: float = 0.95,
                cost_per_call: float | None = None, value_per_correct: float | None = None) -> dict[str, Any]:
    """Fit the law on (the first ``m`` answers of) each query and summarise it as JSON-ready data.

    With ``cost_per_call`` (dollars, see :func:`call_cost`) and ``value_per_correct`` the summary also
    has ``cost``: the K that maximises the net value per query (:func:`cost_summary`).
    """
    check_tie_rule(tie)
    kmax = check_kmax(kmax)
    if (cost_per_call is None) != (value_per_correct is None):
        raise InvalidInputError("the cost-aware K needs both a cost per call (a price and token counts) and the "
                                "value of a correct answer", field="value_per_correct" if value_per_correct is None
                                else "cost_per_call")
    if cost_per_call is not None:  # refuse bad prices before the (slower) fit
        _number(cost_per_call, "cost_per_call")
        _number(value_per_correct, "value_per_correct", positive=True)
    data = counts_from_samples(load_samples(source), use=m) if not _is_counts(source) else load_counts(source)
    law: LawFit = fit_law(data["counts"], kmax=kmax, tie=tie, components=components, draws=draws, seed=seed, level=level)
    out = law.to_dict()
    out.update({"queries": data["queries"], "answers": data["answers"], "abstentions": data["abstentions"],
                "lumped": data["lumped"], "samples_per_query": m})
    if cost_per_call is not None:
        out["cost"] = cost_summary(law.curve, cost_per_call=cost_per_call, value_per_correct=value_per_correct)
    return out


def _is_counts(source: Any) -> bool:
    return isinstance(source, dict) or (isinstance(source, (str, Path)) and str(source).endswith(".json"))


def curve_summary(source: Any, *, ks: Sequence[int] | None = None, m: int | None = None, kmax: int = 100,
                  tie: str = "random", components: int | str = "auto", heldout: bool = False,
                  seed: int = 0, draws: int = 8, level: float = 0.95) -> dict[str, Any]:
    """Predicted accuracy at each K (fitted on the first ``m`` answers per query) with its pointwise
    ``level`` band (``predicted_low``/``predicted_high``, :func:`.fit.fit_law`'s ``curve_low``/``curve_high``;
    ``draws=0`` skips it); with ``heldout`` also the empirical curve of the remaining answers with a
    bootstrap band, their gap, and the share of the K where the empirical curve lies in the band."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
        raise InvalidInputError(f"draws must be a whole number >= 0, got {draws!r}", field="draws")
    kmax = check_kmax(max([kmax, *(ks or [])]))
    records = load_samples(source) if not _is_counts(source) else None
    if records is None:
        if heldout:
            raise InvalidInputError("a held-out comparison needs a samples file, not counts", field="heldout")
        data = load_counts(source)
    else:
        data = counts_from_samples(records, use=m)
    law = fit_law(data["counts"], kmax=kmax, tie=tie, components=components, draws=draws, seed=seed, level=level)
    ks = sorted(set(ks or range(1, kmax + 1)))
    for k in ks:
        check_kmax(k)
    out: dict[str, Any] = {"k": ks, "predicted": [float(law.curve[k - 1]) for k in ks], "k_opt": law.k_opt,
                           "accuracy_opt": law.accuracy_opt, "tie": tie, "samples_per_query": m,
                           "abstentions": data["abstentions"]}
    if law.curve_low is not None and law.curve_high is not None:
        out.update({"predicted_low": [float(law.curve_low[k - 1]) for k in ks],
                    "predicted_high": [float(law.curve_high[k - 1]) for k in ks], "level": level})
    if heldout:
        if m is None:
            raise InvalidInputError("give m (answers per query to fit on) to compare with the held-out rest", field="m")
        rest = counts_from_samples(records, skip=m)
        per_query = empirical_curves(rest["counts"], kmax, tie)
        lo, hi, kint = bootstrap_band(per_query, seed=seed)
        emp = per_query.mean(axis=0)
        out.update({"empirical": [float(emp[k - 1]) for k in ks], "empirical_low": [float(lo[k - 1]) for k in ks],
                    "empirical_high": [float(hi[k - 1]) for k in ks],
                    "mae": float(np.mean([abs(law.curve[k - 1] - emp[k - 1]) for k in ks])),
                    "empirical_k_opt": int(np.argmax(emp >= emp.max() - 1e-12) + 1), "empirical_k_interval": list(kint),
                    "heldout_answers_per_query": int(rest["answers"] / max(rest["queries"], 1))})
        if "predicted_low" in out:
            inside = [lo_k <= e <= hi_k for lo_k, e, hi_k in zip(out["predicted_low"], out["empirical"], out["predicted_high"])]
            out["band_coverage"] = float(np.mean(inside))
    if any(not math.isfinite(x) for x in out["predicted"]):
        raise InvalidInputError("the fitted curve is not finite; check the counts", field="counts")
    return out
