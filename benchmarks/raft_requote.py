"""The quoted sentence re-picked in the chosen document (``skyplex_raft.attribution.requote``), measured on a
finished ``raft_attribution.py`` run without scoring its supports again: the run's decisions (which items it
answers, from which document) stay; each answered item's sentence is re-picked by the asked relation's PMI
(the question's subject read as "it", the document's heading in both contexts) and its answer extracted from
it again. Both sets of replies are scored as ``raft_attribution.py`` scores them, and through the schema check
(``grounded.answers_question``): the share of answers whose sentence states the asked fact. Per question
template, how many answered oracle-present questions quote a sentence stating the asked relation, and how
many pass the schema check, before and after.

Usage::

    nice -n 10 .venv/bin/python benchmarks/raft_requote.py --result benchmarks/results/raft_attribution.json \\
        --keep DIR --method sentence
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from raft_common import machine, print_table, run_main
from raft_grounded import COLUMNS, score, splits

REPO = Path(__file__).resolve().parents[1]


def states_the_asked_relation(reply: str, documents: list[str], question: str) -> bool:
    """Whether the reply's quote states the asked relation of the asked entity (the schema check's test of
    the sentence, whatever answer span was taken from it)."""
    from skyplex_raft.builder import quotes_in
    from skyplex_raft.relations import question_relation, stated_facts

    asked = question_relation(question)
    return asked is not None and any(
        (f.entity, f.relation) == asked for quote in quotes_in(reply) for d in documents if quote.strip() and quote.strip() in d
        for f in stated_facts(quote.strip(), d.split("\n", 1)[0].strip()))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--result", type=Path, required=True, help="a raft_attribution.py result file")
    parser.add_argument("--keep", type=Path, required=True, help="that run's --keep folder (rebuilt if missing)")
    parser.add_argument("--method", default="sentence", choices=["sentence", "question", "both"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=None, help="default: the result file's name + _requote")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from skyplex.errors import InvalidInputError
    from skyplex.models.local import LocalBackend
    from skyplex_raft.attribution import Support, attributed_reply, extract_answer, passages, requote
    from skyplex_raft.builder import ABSTAIN_TARGET
    from skyplex_raft.evaluate import load_items
    from skyplex_raft.grounded import answers_question, schema_grounded_reply

    args = parse(argv)
    try:
        result = json.loads(args.result.read_text())
        setting = argparse.Namespace(**result["setting"])
        setting.limit, setting.max_words, setting.entities, setting.seed, dict(result["items"])  # noqa: B018
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInputError(f"--result {args.result}: not a raft_attribution.py result file", field="result") from None
    load_start = os.getloadavg()[0]
    _, tests, _ = splits(setting, args.keep)
    backend = LocalBackend(data_dir=args.data_dir, threads=args.threads, model_dir=setting.model_dir and Path(setting.model_dir))
    rows, per_template, changed, start = {}, {}, {}, time.perf_counter()
    try:
        for condition, recorded in result["items"].items():
            items = load_items(tests[condition], setting.limit)
            if [it.question_id for it in items] != [r["question_id"] for r in recorded]:
                raise InvalidInputError(f"--keep {args.keep}: its {condition} split is not the result's", field="keep")
            template = {json.loads(line)["raft"]["question_id"]: json.loads(line)["raft"]["template"]
                        for line in tests[condition].read_text().splitlines() if line.strip()}
            before = [r["reply"][args.method] for r in recorded]
            after = []
            for item, r, reply in zip(items, recorded, before):
                if reply == ABSTAIN_TARGET:
                    after.append(reply)
                    continue
                found = next(p for p in passages(item.documents) if p.sentence == r["passage"][args.method])
                again = requote(backend, item.question, item.documents, Support(found, 0.0, 0.0))
                after.append(attributed_reply(again, extract_answer(backend, item.question, again.passage,
                                                                    max_words=setting.max_words)))
                if item.oracle_present:
                    tally = per_template.setdefault(f"{condition} {template[item.question_id]}", [0, 0, 0, 0, 0])
                    tally[0] += 1
                    tally[1] += states_the_asked_relation(reply, item.documents, item.question)
                    tally[2] += states_the_asked_relation(after[-1], item.documents, item.question)
                    tally[3] += answers_question(reply, item.documents, item.question)
                    tally[4] += answers_question(after[-1], item.documents, item.question)
            changed[condition] = [{"question_id": it.question_id, "before": b, "after": a}
                                  for it, b, a in zip(items, before, after) if a != b]
            for name, replies in (("attribution", before), ("attribution requoted", after)):
                rows[f"{name} ({args.method}), {condition}"] = score(items, replies, args.method)
                rows[f"{name}+schema ({args.method}), {condition}"] = score(
                    items, [schema_grounded_reply(x, it.documents, it.question) for it, x in zip(items, replies)],
                    args.method)
    finally:
        backend.close()
    seconds = time.perf_counter() - start
    out = args.out or args.result.with_name(args.result.stem + "_requote.json")
    out.write_text(json.dumps({"result": str(args.result), "method": args.method, "machine": machine(load_start),
                               "seconds": seconds, "scores": rows,
                               "answered_with_oracle": {k: {"answered": a, "sentence_states_relation": [b, c],
                                                            "schema_pass": [d, e]}
                                                        for k, (a, b, c, d, e) in per_template.items()},
                               "changed_replies": changed},
                              indent=2))
    print_table(f"quoted sentence re-picked in the chosen document ({args.result.name})", rows, COLUMNS,
                with_n=True, width=220)
    for key, (answered, b, c, d, e) in sorted(per_template.items()):
        print(f"{key}: {answered} answered with the oracle; the quoted sentence states the asked relation {b} "
              f"before, {c} after; the schema check passes {d} before, {e} after")
    print(f"{seconds:.0f}s, load average {load_start:.1f} at start; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
