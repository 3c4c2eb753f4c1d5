"""RAFT abstain mode on facts no model can know: generated fictional institutions (founder, founding
year, place), a LoRA fine-tune of SmolLM2-135M in abstain mode (CPU), and, on the held-out entities,
how often the model says the documents do not hold the answer when its oracle is absent (target >= 80%)
and when it is present (false abstention, target <= 5%), each with a bootstrap 95% interval.

The base model with the documents and the same system prompt (which tells it how to abstain) is scored
in the same run as the baseline; ``--closed-book`` adds the base model without documents (it cannot
know the answers: F1 near 0 shows memorisation cannot pass for grounding). Distractors are BM25 hard
negatives by default: documents about namesakes ("Quorlo Foundry" for a question on the "Quorlo
Institute"). ``--pairing``, ``--curriculum`` and ``--opening-tokens``/``--opening-weight`` select the builder's
and the fine-tune's options of those names; ``--calibrate`` also scores the tuned model under the calibrated
abstention rule (``skyplex_raft.calibrate``), its threshold chosen on development entities generated with
``seed + 1`` (never trained on, never the held-out split). ``--keep DIR`` keeps the datasets and the tuned
model; the same command run again resumes the finished training (nothing is retrained) and scores again.
Prints a table and writes JSON (``--out``). Usage::

    .venv/bin/python benchmarks/raft_abstain.py --entities 60 --steps 60 --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from raft_common import evaluate, lora_options, machine, print_table, score_rows, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "raft_abstain.json"
CALIBRATED = "raft-abstain calibrated"
COLUMNS = ["abstain@distractors", "abstain@oracle", "exact_match@oracle", "f1@oracle", "quote_recall@oracle"]
TARGETS = {"abstain@distractors": (">=", 0.80), "abstain@oracle": ("<=", 0.05)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=60, help="fictional institutions (3 questions each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-k", type=int, default=2)
    parser.add_argument("-p", type=float, default=0.5, help="oracle share of the train split")
    parser.add_argument("--test-p", type=float, default=0.5, help="oracle share of the held-out split")
    parser.add_argument("--pairing", action="store_true",
                        help="train questions in pairs, with and without the oracle (same distractors otherwise)")
    parser.add_argument("--curriculum", action="store_true",
                        help="half the train questions with random distractors, trained on first; then BM25's")
    parser.add_argument("--opening-tokens", type=int, default=0,
                        help="weigh the loss on each answer's first N tokens (where it abstains or quotes)")
    parser.add_argument("--opening-weight", type=float, default=1.0)
    parser.add_argument("--distractors", choices=["bm25", "random"], default="bm25")
    parser.add_argument("--test-fraction", type=float, default=0.3, help="share of entities held out")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=40, help="held-out questions scored per subject")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-base", action="store_true", help="skip the base model with documents")
    parser.add_argument("--closed-book", action="store_true", help="also score the base model without documents")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--calibrate", action="store_true",
                        help="also score the tuned model under the calibrated abstention rule, its threshold chosen "
                        "on development entities (generated with seed + 1, never the held-out split)")
    parser.add_argument("--dev-entities", type=int, default=60, help="fictional entities of the development split")
    parser.add_argument("--dev-limit", type=int, default=54, help="development questions the threshold is chosen on")
    parser.add_argument("--max-false", type=float, default=0.05,
                        help="false abstention the threshold may make on the development split")
    parser.add_argument("--keep", type=Path, help="keep the datasets and the tuned model in this folder "
                        "(else they go to a temporary folder, deleted at the end)")
    args = parser.parse_args(argv)

    from skyplex.interfaces import Subject
    from skyplex.models.local import LocalBackend
    from skyplex_raft.builder import RaftOptions, build_examples, held_out_path, write_jsonl
    from skyplex_raft.fictional import fictional_corpus

    load_start = os.getloadavg()[0]
    work = args.keep or Path(tempfile.mkdtemp(prefix="raft-abstain-"))
    work.mkdir(parents=True, exist_ok=True)
    chunks, questions = fictional_corpus(args.entities, args.seed)
    examples, skipped = build_examples(chunks, questions, RaftOptions(
        k=args.k, p=args.p, test_p=args.test_p, distractors=args.distractors, test_fraction=args.test_fraction,
        seed=args.seed, abstain=True, pairing=args.pairing,
        curriculum=args.curriculum))
    train_path = work / "fictional.jsonl"
    n_train = write_jsonl([e for e in examples if e.split == "train"], train_path)
    n_test = write_jsonl([e for e in examples if e.split == "test"], held_out_path(train_path))
    print(f"{len(chunks)} fictional entities, {n_train} train / {n_test} test examples", file=sys.stderr)

    base = LocalBackend(data_dir=args.data_dir, threads=args.threads)
    summary, train_s = train(train_path, work / "lora", lora_options(args), args.data_dir)

    subjects = [Subject(name="raft-abstain", model=summary["model_dir"])]
    if not args.no_base:
        subjects.insert(0, Subject(name="base+rag", backend="local"))
    if args.closed_book:
        subjects.insert(0, Subject(name="base", backend="local", params={"documents": False}))
    report, eval_s = evaluate(base, subjects, "raft-fictional", held_out_path(train_path), limit=args.limit,
                              max_tokens=args.max_tokens)
    base.close()
    calibration = calibrated_run(args, summary["model_dir"], chunks, held_out_path(train_path), work) \
        if args.calibrate else None
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)  # the merged model is half a gigabyte

    rows = score_rows(report, subjects, COLUMNS)
    if calibration is not None:
        rows[CALIBRATED] = calibration.pop("row")
    verdicts = {name: verdicts_of(rows[name]) for name in ("raft-abstain", CALIBRATED) if name in rows}
    result = {
        "setting": vars(args) | {"data_dir": str(args.data_dir), "out": str(args.out),
                                 "keep": str(args.keep) if args.keep else None},
        "machine": machine(load_start),
        "dataset": {"entities": len(chunks), "questions": len(questions), "train_examples": n_train,
                    "test_examples": n_test, **skipped},
        "training": {"steps": summary["steps"], "tokens": summary["tokens_trained"], "seconds": train_s,
                     "first_loss": summary["first_loss"], "final_loss": summary["final_loss"],
                     "truncated_examples": summary["truncated_examples"]},
        "evaluation_seconds": eval_s, "questions": report.metadata["questions"],
        "oracle_present": report.metadata["oracle_present"], "scores": rows, "targets": verdicts,
        "calibration": calibration,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print_table(f"RAFT abstain mode on fictional entities: {result['questions']} held-out questions "
                f"({result['oracle_present']} with the oracle), {summary['steps']} LoRA steps", rows, COLUMNS,
                with_n=True, width=220)
    for name, subject_verdicts in verdicts.items():
        for metric, v in subject_verdicts.items():
            print(f"{name} {metric} target {v['target']}: {'met' if v['met'] else 'NOT met'}"
                  f"{' (whole interval)' if v['interval_clears_target'] else ''}")
    if calibration is not None:
        dev = calibration["dev"]
        print(f"calibrated threshold {calibration['threshold']:.3f} chosen on {dev['questions']} development questions "
              f"(abstains {dev['abstain_without_oracle']:.2f} without the oracle, {dev['abstain_with_oracle']:.2f} "
              f"with it); margin AUC: dev {dev['auc']:.2f}, held-out {calibration['test_auc']:.2f}")
    print(f"LoRA {summary['steps']} steps in {train_s:.0f}s, loss {summary['first_loss']:.2f} -> "
          f"{summary['final_loss']:.2f}, {summary['truncated_examples']} examples truncated; evaluation "
          f"{eval_s:.0f}s; load average {load_start:.1f} at start, {result['machine']['load_average_1m']:.1f} "
          "at end")
    print(f"wrote {args.out}")
    return 0


def verdicts_of(row: dict) -> dict:
    """Whether a subject's row meets each abstention target, by its value and by its whole interval."""
    verdicts = {}
    for metric, (sense, target) in TARGETS.items():
        score = row[metric]
        if score is None:
            continue
        met = score["value"] >= target if sense == ">=" else score["value"] <= target
        # the interval's far end: the target is met with confidence only when the whole interval clears it
        sure = score["ci_low"] >= target if sense == ">=" else score["ci_high"] <= target
        verdicts[metric] = {"target": f"{sense} {target:.2f}", "met": met, "interval_clears_target": sure}
    return verdicts


def calibrated_run(args: argparse.Namespace, model_dir: str, chunks: list, test_path: Path, work: Path) -> dict:
    """The tuned model under the calibrated abstention rule: the threshold is chosen on development entities
    (a corpus generated with ``seed + 1``, names of the main corpus left out, oracle share ``--test-p``),
    then applied unchanged to the held-out split. Returns the held-out row and what the choice saw."""
    from skyplex.models.local import LocalBackend
    from skyplex_raft.builder import RaftOptions, build_examples, write_jsonl
    from skyplex_raft.calibrate import abstain_margins, abstains, calibrated_replies, choose_threshold, roc_auc
    from skyplex_raft.evaluate import load_items, score_reply, summarize
    from transformers import AutoTokenizer

    titles = {c.title for c in chunks}
    dev_chunks, dev_questions = fictional_corpus_without(args, titles)
    dev_examples, _ = build_examples(dev_chunks, dev_questions, RaftOptions(
        k=args.k, p=args.test_p, distractors=args.distractors, test_fraction=0.0, seed=args.seed + 1, abstain=True))
    dev_path = work / "fictional.dev.jsonl"
    write_jsonl(dev_examples, dev_path)
    dev_items = load_items(dev_path, args.dev_limit)
    test_items = load_items(test_path, args.limit)
    backend = LocalBackend(model_dir=model_dir, threads=args.threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    start = time.perf_counter()
    try:
        dev_margins = abstain_margins(backend, tokenizer, dev_items)
        dev_present = [i.oracle_present for i in dev_items]
        threshold = choose_threshold(dev_margins, dev_present, max_false=args.max_false)
        test_margins = abstain_margins(backend, tokenizer, test_items)
        replies = calibrated_replies(backend, tokenizer, test_items, threshold, max_tokens=args.max_tokens,
                                     margins=test_margins)
    finally:
        backend.close()
    rows = [{**score_reply(item, reply), "oracle_present": item.oracle_present}
            for item, reply in zip(test_items, replies)]
    scores = {s.metric: s.model_dump() for s in summarize(CALIBRATED, rows, resamples=1000, seed=0)}

    def rate(present: bool) -> float:
        picked = [abstains(m, threshold) for m, p in zip(dev_margins, dev_present) if p is present]
        return sum(picked) / len(picked)

    return {"row": {c: scores.get(c) for c in COLUMNS}, "threshold": threshold, "max_false": args.max_false,
            "seconds": time.perf_counter() - start,
            "test_auc": roc_auc(test_margins, [i.oracle_present for i in test_items]),
            "test_margins": [{"question_id": i.question_id, "oracle_present": i.oracle_present, "margin": m}
                             for i, m in zip(test_items, test_margins)],
            "dev": {"entities": len(dev_chunks), "questions": len(dev_items), "with_oracle": sum(dev_present),
                    "abstain_without_oracle": rate(False), "abstain_with_oracle": rate(True),
                    "auc": roc_auc(dev_margins, dev_present), "margins": dev_margins}}


def fictional_corpus_without(args: argparse.Namespace, titles: set[str]) -> tuple[list, list]:
    """The development corpus: ``--dev-entities`` generated with ``seed + 1``, less any entity whose name the
    main corpus also uses (its facts would differ, and the model saw that name trained on)."""
    from skyplex_raft.fictional import fictional_corpus

    chunks, questions = fictional_corpus(args.dev_entities, args.seed + 1)
    kept = [c for c in chunks if c.title not in titles]
    ids = {c.id for c in kept}
    return kept, [q for q in questions if q.oracle_id in ids]


if __name__ == "__main__":
    sys.exit(main())
