"""RAFT end to end on real API docs: build a dataset, LoRA-tune SmolLM2-135M on it (CPU), and score the
held-out questions with the base model closed-book, the base model with the documents (RAG), the
domain-fine-tuned model (SFT: the same train questions and answer format, no documents in training, the
same LoRA budget) with the documents, and the RAFT model with the documents, all in the same run.

Reports exact match and F1 of the final answer and quote precision/recall, with the oracle among the
documents (``@oracle``) and without (``@distractors``), each with a bootstrap 95% interval, and the
RAFT / base+RAG and RAFT / SFT ratios, and the paired differences RAFT - base+RAG, RAFT - SFT and
SFT - base+RAG over the same questions with their bootstrap intervals (resampling questions: the statistic that can show a gain, since each question's
difficulty cancels out of its difference); plus builder throughput (examples per second) and LoRA training tokens per
second. The held-out split shares no oracle with the train split (the builder's leakage check).

Prints a table and writes JSON (``--out``). Usage::

    .venv/bin/python benchmarks/raft_finetune.py --steps 60 --limit 24

``--max-answer-words N`` scores only held-out questions whose gold answer has at most N words (short
answers make exact match meaningful); ``--no-closed-book`` drops the closed-book row and ``--no-sft`` the
SFT row to save time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from raft_common import evaluate, lora_options, machine, print_table, score_rows, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "raft_finetune.json"
MODULES = "json,textwrap,shlex,difflib,fnmatch,base64,glob,pprint,statistics,zlib,gzip,shutil,tempfile"
#: (treatment, control) pairs scored per question
COMPARISONS = [("raft", "base+rag"), ("raft", "sft"), ("sft", "base+rag")]
PAIRED = [("f1", True), ("exact_match", True), ("f1", None), ("quote_recall", True)]
COLUMNS = ["exact_match@oracle", "f1@oracle", "exact_match@distractors", "f1@distractors",
           "quote_precision@oracle", "quote_recall@oracle"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default=MODULES, help="stdlib modules whose API docs form the corpus")
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("-p", type=float, default=0.8)
    parser.add_argument("--chunk-tokens", type=int, default=96)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--max-seq-len", type=int, default=512)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--limit", type=int, default=24, help="held-out questions scored per subject")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of oracle chunks held out")
    parser.add_argument("--max-answer-words", type=int, help="score only questions with answers this short")
    parser.add_argument("--no-closed-book", action="store_true", help="skip the base model without documents")
    parser.add_argument("--no-sft", action="store_true", help="skip the domain fine-tune (no documents) row")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from skyplex.interfaces import Subject
    from skyplex.models.local import LocalBackend
    from skyplex_raft.builder import RaftOptions
    from skyplex_raft.evaluate import paired_bootstrap_diff
    from skyplex_raft.sft import write_sft_dataset
    from skyplex_raft.trainer import build_dataset

    base = LocalBackend(data_dir=args.data_dir, threads=args.threads)
    work = Path(tempfile.mkdtemp(prefix="raft-bench-"))
    start = time.perf_counter()
    art = build_dataset(f"python:{args.modules}", work / "raft.jsonl", RaftOptions(k=args.k, p=args.p,
                                                                                  test_fraction=args.test_fraction),
                        chunk_tokens=args.chunk_tokens, count_tokens=base.count_tokens)
    build_s = time.perf_counter() - start
    examples = art.metadata["train_examples"] + art.metadata["test_examples"]
    print(f"built {art.metadata['train_examples']} train / {art.metadata['test_examples']} test examples "
          f"from {art.metadata['chunks']} chunks in {build_s:.1f}s", file=sys.stderr)

    options = lora_options(args)
    summary, train_s = train(Path(art.path), work / "lora", options, args.data_dir)
    sft_summary, sft_s = None, None
    if not args.no_sft:
        # the same questions, targets, steps and LoRA options; only the documents are gone from the prompts
        sft_examples = write_sft_dataset(Path(art.path), work / "sft.jsonl")
        print(f"SFT: {sft_examples} examples without documents", file=sys.stderr)
        sft_summary, sft_s = train(work / "sft.jsonl", work / "sft-lora", options, args.data_dir, label="sft")

    test_path = Path(art.metadata["test_path"])
    if args.max_answer_words is not None:
        kept = [line for line in test_path.read_text().splitlines()
                if len(json.loads(line)["raft"]["answer"].split()) <= args.max_answer_words]
        test_path = work / "short.test.jsonl"
        test_path.write_text("".join(line + "\n" for line in kept))
        print(f"{len(kept)} held-out questions have answers of at most {args.max_answer_words} words",
              file=sys.stderr)
    subjects = [Subject(name="base+rag", backend="local"), Subject(name="raft", model=summary["model_dir"])]
    if sft_summary is not None:
        subjects.insert(1, Subject(name="sft", model=sft_summary["model_dir"]))
    if not args.no_closed_book:
        subjects.insert(0, Subject(name="base", backend="local", params={"documents": False}))
    report, eval_s = evaluate(base, subjects, "raft-api-docs", test_path, limit=args.limit, max_tokens=args.max_tokens)
    base.close()
    shutil.rmtree(work, ignore_errors=True)  # the merged model is half a gigabyte

    scores = {(s.subject, s.metric): s for s in report.scores}
    rows = score_rows(report, subjects, COLUMNS)
    names = {subject.name for subject in subjects}
    comparisons = [(t, c) for t, c in COMPARISONS if t in names and c in names]
    ratios: dict[str, dict[str, float | None]] = {}
    for treatment, control in comparisons:
        ratios[f"{treatment} / {control}"] = {
            column: scores[(treatment, column)].value / scores[(control, column)].value
            if scores[(control, column)].value else None
            for column in COLUMNS if (treatment, column) in scores and (control, column) in scores}
    # the paired difference: per question, one subject's score minus another's on the same question
    per_item = {(r.subject, r.item_id): r.data for r in report.items}
    question_ids = list(dict.fromkeys(r.item_id for r in report.items))
    paired: dict[str, dict[str, dict[str, float]]] = {}
    for treatment, control in comparisons:
        label = f"{treatment} - {control}"
        paired[label] = {}
        for metric, condition in PAIRED:
            ids = [q for q in question_ids
                   if condition is None or per_item[(treatment, q)]["oracle_present"] == condition]
            ids = [q for q in ids if per_item[(treatment, q)].get(metric) is not None
                   and per_item[(control, q)].get(metric) is not None]
            diff, low, high = paired_bootstrap_diff([per_item[(treatment, q)][metric] for q in ids],
                                                    [per_item[(control, q)][metric] for q in ids], seed=0)
            name = metric + ("" if condition is None else "@oracle")
            paired[label][name] = {"difference": diff, "ci_low": low, "ci_high": high, "n": len(ids)}
    result = {
        "setting": vars(args) | {"data_dir": str(args.data_dir), "out": str(args.out)},
        "machine": machine(),
        "dataset": {k: art.metadata[k] for k in ("train_examples", "test_examples", "chunks", "questions",
                                                   "oracle_present_share")},
        "builder_examples_per_s": examples / build_s,
        "training": {"steps": summary["steps"], "tokens": summary["tokens_trained"], "seconds": train_s,
                     "tokens_per_s": summary["tokens_trained"] / train_s, "first_loss": summary["first_loss"],
                     "final_loss": summary["final_loss"], "truncated_examples": summary["truncated_examples"]},
        "sft_training": None if sft_summary is None else {
            "examples": sft_summary["examples"], "steps": sft_summary["steps"], "tokens": sft_summary["tokens_trained"],
            "seconds": sft_s, "tokens_per_s": sft_summary["tokens_trained"] / sft_s,
            "first_loss": sft_summary["first_loss"], "final_loss": sft_summary["final_loss"]},
        "evaluation_seconds": eval_s, "questions": report.metadata["questions"],
        "oracle_present": report.metadata["oracle_present"],
        "scores": rows, "ratios": ratios, "paired": paired,
        "raft_over_base_rag": ratios.get("raft / base+rag"), "raft_minus_base_rag_paired": paired.get("raft - base+rag"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print_table(f"RAFT on API docs: {result['questions']} held-out questions "
                f"({result['oracle_present']} with the oracle), {summary['steps']} LoRA steps", rows, COLUMNS,
                ratios=ratios)
    for label, metrics in paired.items():
        for name, d in metrics.items():
            print(f"{label}, paired over {d['n']} questions, {name}: {d['difference']:+.3f} "
                  f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
    print(f"builder: {result['builder_examples_per_s']:.1f} examples/s (templated questions); LoRA: "
          f"{result['training']['tokens_per_s']:.0f} tokens/s, loss {summary['first_loss']:.2f} -> "
          f"{summary['final_loss']:.2f}"
          + (f"; SFT loss {sft_summary['first_loss']:.2f} -> {sft_summary['final_loss']:.2f}" if sft_summary else "")
          + f"; evaluation {eval_s:.0f}s; load average "
          f"{result['machine'].get('load_average_1m', 0):.1f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
