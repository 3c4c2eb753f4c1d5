"""The decision probe (``skyplex_raft.probe``) on the three fictional-entity conditions of ``raft_grounded.py``,
with bootstrap 95% intervals: is abstention met (>= 80% without the oracle, <= 5% false abstention with it)?

Features: the hidden states of the model (the local SmolLM2-135M-Instruct untuned, or ``--model-dir``) on the
prompt the evaluator builds, at the prompt's last token and/or averaged over the question's tokens, at one
layer. A logistic regression (L2) is trained on the train entities' abstain-mode examples of each condition
(oracle shown or not: ``namesakes``, the held-out build's train split; ``siblings``, the train entities one fact
per document with sibling distractors; ``paraphrase``, the train entities paraphrased, in the train wordings),
its layer, pooling and L2 strength chosen by 5-fold cross-validation on those alone; its threshold is chosen
on the development entities of ``raft_grounded.py`` (``seed + 1``), allowing ``--max-false`` false abstention
there; then it is applied once to the held-out items. Two probes: ``pooled`` (trained on the three conditions'
train examples together, threshold on their development items pooled: a deployed system does not know which
condition it faces) and ``per condition`` (trained and thresholded on that condition alone). Where a probe
answers, the reply is the model made to answer after the quoted answer's opening (``probe.made_answers``),
unchanged; ``+grounded`` keeps that reply only when a verbatim quote of the documents holds its answer.

Usage::

    nice -n 10 .venv/bin/python benchmarks/raft_probe.py --entities 60 -k 2 -p 0.5 --test-p 0.5 --limit 54 \\
        --threads 1 --keep DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# one BLAS thread: on a shared, loaded machine the probe's small fits ran 20-60 times slower with a pool
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from raft_common import machine, print_table, run_main
from raft_grounded import CONDITIONS, COLUMNS, _only, score, splits, write_split

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "raft_probe.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The corpus settings of raft_grounded.py (the same splits), the train examples' and the rule's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default in [("--entities", int, 60), ("--seed", int, 0), ("-k", int, 2), ("-p", float, 0.5),
                                ("--test-p", float, 0.5), ("--test-fraction", float, 0.3), ("--limit", int, 54),
                                ("--threads", int, 1), ("--dev-entities", int, 60), ("--dev-limit", int, 54),
                                ("--train-limit", int, 0), ("--max-false", float, 0.05), ("--paraphrase-k", int, 3),
                                ("--max-tokens", int, 64)]:
        parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help="the conditions scored, comma-separated (the pooled probe trains on all of them)")
    parser.add_argument("--decision-only", action="store_true",
                        help="score the decision alone: no answers are made (F1 and supported are then 0)")
    parser.add_argument("--answers-from", type=Path, default=None,
                        help="a result file of this script: keep its decisions and answer the items its probes "
                        "answered by likelihood attribution's extractive path (no features, no refit)")
    parser.add_argument("--per-document", action="store_true",
                        help="also the per-document probe (skyplex_raft.docprobe: the question with one document at "
                        "a time; abstain when the best document's score is below the threshold), in the same run")
    parser.add_argument("--dev-only", action="store_true",
                        help="stop before the held-out items: the probes' train cross-validation and development "
                        "figures alone (features kept in --keep for the held-out run)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a transformers folder to read and answer with (default: the local SmolLM2, untuned)")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", type=Path, required=True, help="the datasets go here")
    args = parser.parse_args(argv)
    args.curriculum = args.train_siblings = args.train_paraphrase = False
    return args


def train_splits(args: argparse.Namespace, work: Path, conditions: list[str]) -> dict[str, Path]:
    """Each condition's abstain-mode train examples, about the train entities only (oracle share ``-p``)."""
    from skyplex_raft.builder import RaftOptions, build_examples
    from skyplex_raft.fictional import fictional_corpus
    from skyplex_raft.paraphrase import paraphrased_corpus

    chunks, questions = fictional_corpus(args.entities, args.seed)
    examples, _ = build_examples(chunks, questions, RaftOptions(
        k=args.k, p=args.p, test_p=args.test_p, distractors="bm25", test_fraction=args.test_fraction,
        seed=args.seed, abstain=True))
    held = {e.question.oracle_id for e in examples if e.split == "test"}
    titles = {c.title for c in chunks} - {c.title for c in chunks if c.id in held}
    paths = {"namesakes": work / "fictional.jsonl"}  # raft_grounded.splits wrote it: this build's train split
    if "siblings" in conditions:
        paths["siblings"] = write_split(*_only(fictional_corpus(args.entities, args.seed, layout="facts"), titles),
                                        RaftOptions(k=args.k, p=args.p, distractors="siblings", test_fraction=0.0,
                                                    seed=args.seed, abstain=True), work / "probe.siblings.train.jsonl")
    if "paraphrase" in conditions:
        paths["paraphrase"] = write_split(*_only(paraphrased_corpus(args.entities, args.seed, phrasings="train"), titles),
                                          RaftOptions(k=args.paraphrase_k, p=args.p, distractors="siblings",
                                                      test_fraction=0.0, seed=args.seed, abstain=True),
                                          work / "probe.paraphrase.train.jsonl")
    return {c: paths[c] for c in conditions}


def attribution_answers(args: argparse.Namespace) -> int:
    """The decisions of a finished run (``--answers-from``), unchanged; where a probe answered, the reply is now
    likelihood attribution's: the best sentence by its ``sentence`` support, re-picked in its document by the
    asked relation (``attribution.requote``), and the model's answer constrained to a span of it."""
    from skyplex.errors import InvalidInputError
    from skyplex.models.local import LocalBackend
    from skyplex_raft.attribution import attributed_reply, best_support, extract_answer, requote, support_scores
    from skyplex_raft.builder import ABSTAIN_TARGET
    from skyplex_raft.evaluate import load_items

    try:
        done = json.loads(args.answers_from.read_text())
        setting = argparse.Namespace(**{**done["setting"], "keep": args.keep})
        for key in ("model_dir", "data_dir"):
            if getattr(setting, key):
                setattr(setting, key, Path(getattr(setting, key)))
        decided = done["items"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(f"--answers-from {args.answers_from}: not a result of raft_probe.py ({error})",
                                field="answers_from") from None
    load_start = os.getloadavg()[0]
    args.keep.mkdir(parents=True, exist_ok=True)
    tests = splits(setting, args.keep)[1]
    backend = LocalBackend(data_dir=setting.data_dir, threads=args.threads, model_dir=setting.model_dir)
    rows: dict[str, dict] = {}
    start = time.perf_counter()
    try:
        for c, records in decided.items():
            items = load_items(tests[c], setting.limit)
            if [it.question_id for it in items] != [r["question_id"] for r in records]:
                raise InvalidInputError(f"--answers-from {args.answers_from}: its items are not this build's",
                                        field="answers_from")
            answers: dict[int, str] = {}
            for name in [n for n in records[0] if n not in ("question_id", "oracle_present")] if records else []:
                replies = []
                for i, (it, record) in enumerate(zip(items, records)):
                    if record[name]["abstained"]:
                        replies.append(ABSTAIN_TARGET)
                        continue
                    if i not in answers:
                        best = best_support(support_scores(backend, it.question, it.documents), "sentence")
                        if best is not None:
                            best = requote(backend, it.question, it.documents, best)
                        answers[i] = attributed_reply(best, best and extract_answer(backend, it.question, best.passage))
                    replies.append(answers[i])
                rows[f"probe ({name}), attribution answers, {c}"] = score(items, replies, name)
    finally:
        backend.close()
    seconds = time.perf_counter() - start
    done["attribution_answers"] = {"scores": rows, "seconds": seconds, "machine": machine(load_start)}
    args.answers_from.write_text(json.dumps(done, indent=2))
    print_table("the same decisions, answered by likelihood attribution's extractive path", rows, COLUMNS,
                with_n=True, width=220)
    print(f"{seconds:.0f}s, load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
          f"added to {args.answers_from}")
    return 0


def probe_features(args: argparse.Namespace, model, tokenizer, kind: str, split: str, condition: str, its) -> Any:
    """One split's features of one kind (``prompt``: the whole prompt's, ``document``: one per question-document
    pair), read once and kept in ``--keep`` (``features.KIND.SPLIT.CONDITION.npy``), reused when the count fits."""
    import numpy as np
    from skyplex_raft.docprobe import document_features
    from skyplex_raft.probe import item_features

    path = args.keep / f"features.{kind}.{split}.{condition}.npy"
    n = len(its) if kind == "prompt" else sum(len(it.documents) for it in its)
    if path.is_file():
        kept = np.load(path)
        if len(kept) == n:
            return kept
    made = item_features(model, tokenizer, its) if kind == "prompt" else document_features(model, tokenizer, its)
    np.save(path, made)
    return made


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from skyplex.errors import InvalidInputError
    from skyplex.models.local import LocalBackend
    from skyplex_raft.docprobe import document_labels, fit_document_decision, owners
    from skyplex_raft.evaluate import load_items
    from skyplex_raft.grounded import grounded_reply
    from skyplex_raft.probe import LAYERS, fit_decision, load_model, made_answers, probe_replies, rank_auc

    args = parse(argv)
    conditions = [c for c in CONDITIONS if c in args.conditions.split(",")]
    if sorted(conditions) != sorted(set(args.conditions.split(","))):
        raise InvalidInputError(f"--conditions {args.conditions}: choose among {','.join(CONDITIONS)}",
                                field="conditions")
    if args.max_tokens < 1:
        raise InvalidInputError(f"--max-tokens {args.max_tokens}: give at least 1", field="max_tokens")
    if args.answers_from is not None:
        return attribution_answers(args)
    load_start = os.getloadavg()[0]
    args.keep.mkdir(parents=True, exist_ok=True)
    _, tests, dev = splits(args, args.keep)
    trains = train_splits(args, args.keep, conditions)
    items = {"train": {c: load_items(trains[c], args.train_limit or None) for c in conditions},
             "dev": {c: load_items(dev[c], args.dev_limit) for c in conditions}}
    if not args.dev_only:
        items["test"] = {c: load_items(tests[c], args.limit) for c in conditions}
    kinds = ["prompt", "document"] if args.per_document else ["prompt"]
    backend = LocalBackend(data_dir=args.data_dir, threads=args.threads, model_dir=args.model_dir)
    folder = args.model_dir or backend.cache_dir
    backend.count_tokens("x")  # the packaged model converted into the data dir, if it is not yet
    model, tokenizer = load_model(folder, args.threads)
    start = time.perf_counter()
    try:
        features = {kind: {split: {c: probe_features(args, model, tokenizer, kind, split, c, its)
                                   for c, its in per.items()} for split, per in items.items()} for kind in kinds}
        feature_s = time.perf_counter() - start
        present = {split: {c: [it.oracle_present for it in its] for c, its in per.items()}
                   for split, per in items.items()}

        def pooled(kind: str, split: str):
            return (np.concatenate([features[kind][split][c] for c in conditions]),
                    [p for c in conditions for p in present[split][c]])

        def fit(kind: str, cs: list[str]):
            """The probe of ``kind`` trained and thresholded on the conditions ``cs`` together."""
            x = {split: np.concatenate([features[kind][split][c] for c in cs]) for split in ("train", "dev")}
            its = {split: [it for c in cs for it in items[split][c]] for split in ("train", "dev")}
            if kind == "prompt":
                return fit_decision(x["train"], [it.oracle_present for it in its["train"]], x["dev"],
                                    [it.oracle_present for it in its["dev"]], max_false=args.max_false, seed=args.seed)
            return fit_document_decision(x["train"], owners(its["train"]), document_labels(its["train"]),
                                         [it.oracle_present for it in its["train"]], x["dev"], owners(its["dev"]),
                                         [it.oracle_present for it in its["dev"]], max_false=args.max_false,
                                         seed=args.seed)

        def item_scores(kind: str, decision, split: str, c: str) -> list[float]:
            if kind == "prompt":
                return decision.scores(features[kind][split][c])
            its = items[split][c]
            return decision.scores(features[kind][split][c], owners(its), len(its))

        fit_start = time.perf_counter()
        probes: dict[str, tuple[str, dict]] = {}  # name: (kind, {condition: decision})
        for kind in kinds:
            prefix = "" if kind == "prompt" else "document, "
            whole = fit(kind, conditions)
            probes[f"{prefix}pooled"] = (kind, {c: whole for c in conditions})
            probes[f"{prefix}per condition"] = (kind, {c: fit(kind, [c]) for c in conditions})
        fit_s = time.perf_counter() - fit_start
        made: dict[tuple[str, int], str] = {}  # the answering path asked once per item, whichever probe answers

        def answer(c: str, indices: list[int]) -> list[str]:
            if args.decision_only:
                return ["<ANSWER>: -"] * len(indices)
            todo = [i for i in indices if (c, i) not in made]
            for i, reply in zip(todo, made_answers(backend, tokenizer, [items["test"][c][i] for i in todo],
                                                   max_tokens=args.max_tokens)):
                made[(c, i)] = reply
            return [made[(c, i)] for i in indices]

        rows: dict[str, dict] = {}
        dev_rows: dict[str, dict] = {}
        per_item: dict[str, list] = {}
        aucs: dict[str, dict] = {}
        answer_start = time.perf_counter()
        for c in conditions:
            if "test" in items:
                per_item[c] = [{"question_id": it.question_id, "oracle_present": it.oracle_present}
                               for it in items["test"][c]]
            for name, (kind, decisions) in probes.items():
                decision = decisions[c]
                dev_scores = item_scores(kind, decision, "dev", c)
                dev_rows[f"probe ({name}), {c}"] = score(
                    items["dev"][c], probe_replies([s > decision.threshold for s in dev_scores],
                                                   lambda idx: ["<ANSWER>: -"] * len(idx)), name)
                aucs.setdefault(c, {})[name] = {"dev": rank_auc(dev_scores, present["dev"][c])}
                if "test" not in items:
                    continue
                test_items = items["test"][c]
                scores = item_scores(kind, decision, "test", c)
                abstained = [s > decision.threshold for s in scores]
                replies = probe_replies(abstained, lambda idx, c=c: answer(c, idx))
                rows[f"probe ({name}), {c}"] = score(test_items, replies, name)
                rows[f"probe ({name})+grounded, {c}"] = score(
                    test_items, [grounded_reply(r, it.documents) for it, r in zip(test_items, replies)], name)
                aucs[c][name]["test"] = rank_auc(scores, present["test"][c])
                for record, s, reply in zip(per_item[c], scores, replies):
                    record[name] = {"score": s, "abstained": s > decision.threshold, "reply": reply}
        answer_s = time.perf_counter() - answer_start
    finally:
        backend.close()
    seconds = time.perf_counter() - start
    settings = {f"{name}" + ("" if len(set(map(id, ds.values()))) == 1 else f", {c}"):
                {"layer": d.layer, "pooling": d.pooling, "l2": d.l2, "train_cv_auc": d.cv_auc, "threshold": d.threshold}
                for name, (_, ds) in probes.items() for c, d in ds.items()}
    result = {"setting": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "machine": machine(load_start), "layers": list(LAYERS),
              "seconds": {"total": seconds, "features": feature_s, "fit": fit_s, "answers": answer_s},
              "probes": settings, "auc": aucs, "scores": rows, "dev_scores": dev_rows,
              "questions": {split: {c: {"n": len(its), "with_oracle": sum(i.oracle_present for i in its)}
                                    for c, its in per.items()} for split, per in items.items()},
              "items": per_item}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"probes {json.dumps(settings)}")
    if rows:
        print_table(f"decision probes, held-out questions {result['questions']['test']}", rows, COLUMNS,
                    with_n=True, width=220)
    print_table("development split (where the thresholds were chosen; the decision alone)",
                {name: {c: row[c] for c in COLUMNS[:2]} for name, row in dev_rows.items()}, COLUMNS[:2], with_n=True,
                width=160)
    print(f"probe AUC {json.dumps(aucs)}; {seconds:.0f}s (features {feature_s:.0f}s, fit {fit_s:.0f}s, answers "
          f"{answer_s:.0f}s), load average {load_start:.1f} at start, {result['machine']['load_average_1m']:.1f} "
          f"at end; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
