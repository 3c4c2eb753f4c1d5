"""Likelihood attribution (``skyplex_raft.attribution``) on the three fictional-entity conditions of
``raft_grounded.py``, beside the rules that read no model, in one run, with bootstrap 95% intervals: is
abstention met (>= 80% without the oracle, <= 5% false abstention with it)?

No training: the model (the local SmolLM2-135M-Instruct, or ``--model-dir``, e.g. a kept fine-tune's
``lora/model``) scores every sentence of the shown documents as support for the question, in both
directions (``sentence``: log P(sentence | question) - log P(sentence); ``question``: log P(question |
passage) - log P(question); ``both``: their sum). For each direction the threshold (abstain when the best
support is below it) is chosen on the development splits of ``raft_grounded.py`` (entities of ``seed + 1``,
names of the main corpus left out, paraphrased questions in the train wordings; the conditions pooled),
allowing ``--max-false`` false abstention there, never on the held-out items. Where it answers, the answer
is the model's greedy reply constrained to a run of at most ``--max-words`` words of the best sentence,
quoted whole. ``attribution+schema`` puts those replies through the schema check
(``grounded.answers_question``): the share of answers whose chosen sentence states the asked fact.

Usage::

    nice -n 10 .venv/bin/python benchmarks/raft_attribution.py --entities 60 -k 2 -p 0.5 --test-p 0.5 \\
        --limit 54 --threads 1 --keep DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from raft_common import machine, print_table, run_main
from raft_grounded import CONDITIONS, COLUMNS, lexical_rows, score, splits

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "raft_attribution.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The corpus settings of raft_grounded.py (the same splits), the scoring model and the rule's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default in [("--entities", int, 60), ("--seed", int, 0), ("-k", int, 2), ("-p", float, 0.5),
                                ("--test-p", float, 0.5), ("--test-fraction", float, 0.3), ("--limit", int, 54),
                                ("--threads", int, 2), ("--dev-entities", int, 60), ("--dev-limit", int, 54),
                                ("--max-false", float, 0.05), ("--paraphrase-k", int, 3), ("--max-words", int, 4)]:
        parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help="the conditions scored, comma-separated (thresholds pool their development splits)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a transformers folder to score with (default: the local SmolLM2, untuned)")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", type=Path, required=True, help="the datasets go here")
    args = parser.parse_args(argv)
    # the settings raft_grounded.splits reads that shape only its training file
    args.curriculum = args.train_siblings = args.train_paraphrase = False
    return args


def rule_rows(backend, items: list, best: dict[str, list], thresholds: dict[str, float], max_words: int,
              answers: dict) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Each method's replies on one condition's items and their scores; with the schema check applied too."""
    from skyplex_raft.attribution import abstains, attributed_reply, extract_answer, item_support
    from skyplex_raft.builder import ABSTAIN_TARGET
    from skyplex_raft.grounded import schema_grounded_reply

    rows, replies = {}, {}
    for method, supports in best.items():
        out = []
        for item, support in zip(items, supports):
            if support is None or abstains(item_support(support, method), thresholds[method]):
                out.append(ABSTAIN_TARGET)
                continue
            key = (item.question, support.passage)
            if key not in answers:  # the same best passage under two methods is asked once
                answers[key] = extract_answer(backend, item.question, support.passage, max_words=max_words)
            out.append(attributed_reply(support, answers[key]))
        replies[method] = out
        rows[f"attribution ({method})"] = score(items, out, method)
        rows[f"attribution+schema ({method})"] = score(
            items, [schema_grounded_reply(r, it.documents, it.question) for it, r in zip(items, out)], method)
    return rows, replies


def main(argv: list[str] | None = None) -> int:
    from skyplex.errors import InvalidInputError
    from skyplex.models.local import LocalBackend
    from skyplex_raft.attribution import METHODS, best_support, choose_support_threshold, item_support, support_scores
    from skyplex_raft.calibrate import roc_auc
    from skyplex_raft.evaluate import load_items

    args = parse(argv)
    conditions = [c for c in CONDITIONS if c in args.conditions.split(",")]
    if sorted(conditions) != sorted(set(args.conditions.split(","))):
        raise InvalidInputError(f"--conditions {args.conditions}: choose among {','.join(CONDITIONS)}",
                                field="conditions")
    if args.max_words < 1:
        raise InvalidInputError(f"--max-words {args.max_words}: give at least 1", field="max_words")
    load_start = os.getloadavg()[0]
    args.keep.mkdir(parents=True, exist_ok=True)
    _, tests, dev = splits(args, args.keep)
    dev_items = {c: load_items(dev[c], args.dev_limit) for c in conditions}
    test_items = {c: load_items(tests[c], args.limit) for c in conditions}
    backend = LocalBackend(data_dir=args.data_dir, threads=args.threads, model_dir=args.model_dir)
    start = time.perf_counter()
    try:
        scored = {(split, c): [support_scores(backend, it.question, it.documents) for it in items[c]]
                  for split, items in (("dev", dev_items), ("test", test_items)) for c in conditions}
        best = {key: {m: [best_support(s, m) for s in per_item] for m in METHODS} for key, per_item in scored.items()}
        pooled_present = [it.oracle_present for c in conditions for it in dev_items[c]]
        thresholds = {m: choose_support_threshold([item_support(s, m) for c in conditions for s in best[("dev", c)][m]],
                                                  pooled_present, max_false=args.max_false) for m in METHODS}
        rows, overlap = lexical_rows(test_items, args.max_false)
        dev_rows: dict[str, dict] = {}
        answers: dict = {}
        test_replies = {}
        for c in conditions:
            found, test_replies[c] = rule_rows(backend, test_items[c], best[("test", c)], thresholds, args.max_words,
                                               answers)
            rows.update({f"{name}, {c}": row for name, row in found.items()})
            found, _ = rule_rows(backend, dev_items[c], best[("dev", c)], thresholds, args.max_words, answers)
            dev_rows.update({f"{name}, {c}": row for name, row in found.items() if name.startswith("attribution (")})
    finally:
        backend.close()
    seconds = time.perf_counter() - start
    aucs = {c: {m: {split: roc_auc([-item_support(s, m) for s in best[(split, c)][m]],
                                   [it.oracle_present for it in items[c]])
                    for split, items in (("dev", dev_items), ("test", test_items))} for m in METHODS}
            for c in conditions}
    result = {"setting": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "machine": machine(load_start), "scoring_seconds": seconds, "thresholds": thresholds,
              "overlap_thresholds": overlap, "support_auc": aucs, "scores": rows, "dev_scores": dev_rows,
              "questions": {c: {"test": len(test_items[c]), "test_with_oracle": sum(i.oracle_present for i in test_items[c]),
                                "dev": len(dev_items[c])} for c in conditions},
              "items": {c: [{"question_id": it.question_id, "oracle_present": it.oracle_present,
                             "support": {m: item_support(best[("test", c)][m][i], m) for m in METHODS},
                             "passage": {m: (b.passage.sentence if (b := best[("test", c)][m][i]) else None) for m in METHODS},
                             "reply": {m: test_replies[c][m][i] for m in METHODS}}
                            for i, it in enumerate(test_items[c])] for c in conditions}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_table(f"likelihood attribution and the rules that read no model, held-out questions per condition "
                f"{result['questions']}; thresholds (dev, pooled) {thresholds}", rows, COLUMNS, with_n=True, width=220)
    print_table("development split (where the thresholds were chosen)", dev_rows, COLUMNS, with_n=True, width=220)
    print(f"support AUC {json.dumps(aucs)}; scoring {seconds:.0f}s, load average {load_start:.1f} at start, "
          f"{result['machine']['load_average_1m']:.1f} at end; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
