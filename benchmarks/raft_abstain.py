"""RAFT abstain mode on facts no model can know: generated fictional institutions (founder, founding
year, place), a LoRA fine-tune of SmolLM2-135M in abstain mode (CPU), and, on the held-out entities,
how often the model says the documents do not hold the answer when its oracle is absent (target >= 80%)
and when it is present (false abstention, target <= 5%), each with a bootstrap 95% interval.

The base model with the documents and the same system prompt (which tells it how to abstain) is scored
in the same run as the baseline; ``--closed-book`` adds the base model without documents (it cannot
know the answers: F1 near 0 shows memorisation cannot pass for grounding). Distractors are BM25 hard
negatives by default: documents about namesakes ("Quorlo Foundry" for a question on the "Quorlo
Institute"). Prints a table and writes JSON (``--out``). Usage::

    .venv/bin/python benchmarks/raft_abstain.py --entities 60 --steps 60 --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from raft_common import evaluate, lora_options, machine, print_table, score_rows, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "raft_abstain.json"
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
        seed=args.seed, abstain=True, pairing=args.pairing))
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
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)  # the merged model is half a gigabyte

    rows = score_rows(report, subjects, COLUMNS)
    tuned = rows["raft-abstain"]
    verdicts = {}
    for metric, (sense, target) in TARGETS.items():
        row = tuned[metric]
        if row is None:
            continue
        met = row["value"] >= target if sense == ">=" else row["value"] <= target
        # the interval's far end: the target is met with confidence only when the whole interval clears it
        sure = row["ci_low"] >= target if sense == ">=" else row["ci_high"] <= target
        verdicts[metric] = {"target": f"{sense} {target:.2f}", "met": met, "interval_clears_target": sure}
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
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print_table(f"RAFT abstain mode on fictional entities: {result['questions']} held-out questions "
                f"({result['oracle_present']} with the oracle), {summary['steps']} LoRA steps", rows, COLUMNS,
                with_n=True, width=220)
    for metric, v in verdicts.items():
        print(f"raft-abstain {metric} target {v['target']}: {'met' if v['met'] else 'NOT met'}"
              f"{' (whole interval)' if v['interval_clears_target'] else ''}")
    print(f"LoRA {summary['steps']} steps in {train_s:.0f}s, loss {summary['first_loss']:.2f} -> "
          f"{summary['final_loss']:.2f}, {summary['truncated_examples']} examples truncated; evaluation "
          f"{eval_s:.0f}s; load average {load_start:.1f} at start, {result['machine']['load_average_1m']:.1f} "
          "at end")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
