"""RAFT abstention on fictional entities under three oracle-absent conditions and six decision rules, with
bootstrap 95% intervals: is abstention met (>= 80% without the oracle, <= 5% false abstention with it)?

Conditions (both on the held-out entities of the ``raft_abstain.py`` build, which the model never saw):

* ``namesakes``: the held-out split itself: each institution in one document, BM25 distractors about
  namesakes ("Quorlo Foundry" for the "Quorlo Institute"). No distractor names the asked entity, so the
  rule "abstain iff the asked name is in no document" passes it; the table shows that rule's score.
* ``siblings``: the same institutions written one fact per document (``layout="facts"``) and the
  distractors the asked entity's other facts (``distractors="siblings"``): every document shown names
  the entity, with the oracle or without it, so the name rule never abstains; the answer's absence must
  be read from which fact each document states. The lexical rule "abstain iff no document holds both the
  asked name and the asked fact's verb" passes both conditions: what is measured is whether the tuned
  model learns that decision from its training data, not whether it could be made by a string match.
* ``paraphrase``: the same held-out institutions in ``skyplex_raft.paraphrase.paraphrased_corpus``: facts
  stated in varied sentences, questions in the test wordings (never in training), and each fact beside a
  confuser (the same relation, in the same kind of sentence, of a part of the institution), distractors the
  siblings, ``--paraphrase-k`` documents (3: without the oracle every sibling is shown, the asked relation's
  confuser among them). The name rule, the name + relation-verb rule and the best lexical overlap
  (threshold chosen on the held-out items themselves, in the rule's favour) are scored on every condition.

Rules, each applied to the same model outputs: ``greedy`` (the tuned model's own reply); ``greedy+grounded``
(that reply stands only when a verbatim quote of the documents holds its answer: ``skyplex_raft.grounded``);
``grounded`` (the model made to answer, after the answering opening, then the same check);
``calibrated`` (abstain when the abstain margin is above a threshold, else the made answer:
``skyplex_raft.calibrate``); ``calibrated+grounded`` (abstain when the margin is above its threshold or the
made answer is unsupported); ``grounded+schema`` (the made answer kept only when its verbatim quote states
the asked relation of the asked entity: ``skyplex_raft.grounded.answers_question``). Thresholds are chosen on development entities (generated with ``seed + 1``,
names of the main corpus left out, the conditions scored pooled, as a deployed system does not know which it
faces), allowing ``--max-false`` false abstention there; never on the held-out split.

The model is trained (or, with ``--keep`` pointing at a finished run of the same settings, resumed without
retraining) exactly as ``raft_abstain.py`` trains it. Usage::

    .venv/bin/python benchmarks/raft_grounded.py --entities 60 -k 2 -p 0.5 --test-p 0.5 --steps 80 \\
        --max-seq-len 320 --learning-rate 5e-4 --limit 54 --max-tokens 96 --threads 1 --keep DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from raft_common import lora_options, machine, print_table, run_main, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "raft_grounded.json"
COLUMNS = ["abstain@distractors", "abstain@oracle", "f1@oracle", "supported@oracle"]
RULES = ["greedy", "greedy+grounded", "grounded", "grounded+schema", "calibrated", "calibrated+grounded"]
CONDITIONS = ["namesakes", "siblings", "paraphrase"]
#: the words each statement kind is written with, in every layout: the relation-verb rule looks for them
RELATION_WORDS = {"founding": ("founded", "established", "set up", "owes its beginning", "opened its doors"),
                  "place": ("stands", "located", "find", "lies in", "home of")}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The settings: those of raft_abstain.py that shape the model, and the development split's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default in [("--entities", int, 60), ("--seed", int, 0), ("-k", int, 2), ("-p", float, 0.5),
                                ("--test-p", float, 0.5), ("--test-fraction", float, 0.3), ("--steps", int, 60),
                                ("--max-seq-len", int, 256), ("--rank", int, 16), ("--learning-rate", float, 1e-3),
                                ("--limit", int, 54), ("--max-tokens", int, 96), ("--threads", int, 2),
                                ("--dev-entities", int, 60), ("--dev-limit", int, 54), ("--max-false", float, 0.05)]:
        parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--curriculum", action="store_true", help="build and train as raft_abstain.py --curriculum")
    parser.add_argument("--train-siblings", action="store_true",
                        help="also train on the train entities written one fact per document with sibling distractors "
                        "(the held-out entities never), the same steps")
    parser.add_argument("--paraphrase-k", type=int, default=3, help="documents per paraphrase-condition example")
    parser.add_argument("--train-paraphrase", action="store_true",
                        help="also train on the train entities in the paraphrased corpus (train wordings, sibling "
                        "distractors, --paraphrase-k documents; the held-out entities never), the same steps")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help="the conditions scored, comma-separated (thresholds pool their development splits)")
    parser.add_argument("--rules-only", action="store_true",
                        help="build the splits and score the rules that read no model on them; no training")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep", type=Path, required=True, help="the datasets and the tuned model go here")
    return parser.parse_args(argv)


def asked(question: str) -> tuple[str, str]:
    """The institution a fictional question asks about, and the relation."""
    from skyplex_raft.relations import question_relation

    found = question_relation(question)
    if found is None:
        raise ValueError(f"not a fictional-entity question: {question!r}")
    return found


def asked_entity(question: str) -> str:
    """The institution a fictional question asks about."""
    return asked(question)[0]


def name_rule_abstains(item) -> bool:
    """The trivial rule: abstain iff the asked institution's name is in none of the documents shown."""
    return not any(asked_entity(item.question) in d for d in item.documents)


def name_fact_rule_abstains(item) -> bool:
    """The lexical rule: abstain iff no document shown holds both the asked name and a word the asked
    relation is stated with in any layout ("founded", "established", ... for founder and year; "stands",
    "located", ... for place)."""
    from skyplex_raft.relations import RELATIONS

    entity, relation = asked(item.question)
    words = RELATION_WORDS[RELATIONS[relation][0]]
    return not any(entity in d and any(re.search(rf"\b{w}\b", d) for w in words) for d in item.documents)


def lexical_overlap(item) -> float:
    """The largest share of the question's content words (stopwords out) that one shown document holds."""
    from skyplex_raft.builder import QUERY_STOPWORDS, tokens

    asked_words = {t for t in tokens(item.question) if t not in QUERY_STOPWORDS}
    return max(len(asked_words & set(tokens(d))) / max(1, len(asked_words)) for d in item.documents)


def best_overlap_threshold(items, max_false: float) -> float:
    """The overlap threshold (abstain when the best document's overlap is below it) that abstains most on
    oracle-absent ``items`` while abstaining on at most ``max_false`` of the oracle-present ones: chosen on
    the very items it is scored on, so the rule is shown at its best."""
    best, best_abstain = 0.0, -1.0
    for threshold in sorted({lexical_overlap(it) for it in items} | {1.01}):
        present = [lexical_overlap(it) < threshold for it in items if it.oracle_present]
        absent = [lexical_overlap(it) < threshold for it in items if not it.oracle_present]
        if sum(present) <= max_false * len(present) + 1e-9 and sum(absent) / max(1, len(absent)) > best_abstain:
            best, best_abstain = threshold, sum(absent) / max(1, len(absent))
    return best


def schema_rule_abstains(item) -> bool:
    """The reader that knows the corpus's relation schema: abstain iff no sentence of a shown document
    states the asked relation of the asked entity (``skyplex_raft.relations.stated_facts``)."""
    from skyplex_raft.relations import stated_facts

    entity, relation = asked(item.question)
    for document in item.documents:
        heading, _, body = document.partition("\n")
        for sentence in body.strip().split("\n"):
            if any(f.entity == entity and f.relation == relation for f in stated_facts(sentence, heading.strip())):
                return False
    return True


#: rules that read no model: what each condition lets a string match pass for grounding
LEXICAL_RULES = {"name rule": name_rule_abstains, "name+fact rule": name_fact_rule_abstains,
                 "schema rule": schema_rule_abstains}


def write_split(chunks: list, questions: list, options, path: Path) -> Path:
    """Build abstain-mode examples of ``questions`` (all of them one split) and write them to ``path``."""
    from skyplex_raft.builder import build_examples, write_jsonl

    examples, _ = build_examples(chunks, questions, options)
    write_jsonl(examples, path)
    return path


def splits(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """The train file, the held-out file of each condition and the development file of each condition."""
    from skyplex_raft.builder import RaftOptions, build_examples, held_out_path, write_jsonl
    from skyplex_raft.fictional import fictional_corpus
    from skyplex_raft.paraphrase import paraphrased_corpus

    chunks, questions = fictional_corpus(args.entities, args.seed)
    examples, _ = build_examples(chunks, questions, RaftOptions(
        k=args.k, p=args.p, test_p=args.test_p, distractors="bm25", test_fraction=args.test_fraction,
        seed=args.seed, abstain=True, curriculum=args.curriculum))
    train_path = work / "fictional.jsonl"
    held_out = {e.question.oracle_id for e in examples if e.split == "test"}
    held_titles = {c.title for c in chunks if c.id in held_out}
    train = [e for e in examples if e.split == "train"]
    if args.train_siblings:  # the train entities' facts, one per document, their siblings as distractors
        facts = _only(fictional_corpus(args.entities, args.seed, layout="facts"), {c.title for c in chunks} - held_titles)
        train += build_examples(*facts, RaftOptions(k=args.k, p=args.p, distractors="siblings", test_fraction=0.0,
                                                    seed=args.seed, abstain=True))[0]
    paraphrase = RaftOptions(k=args.paraphrase_k, p=args.test_p, distractors="siblings", test_fraction=0.0,
                             seed=args.seed, abstain=True)
    if args.train_paraphrase:  # the train entities, paraphrased, asked in the train wordings
        train += build_examples(*_only(paraphrased_corpus(args.entities, args.seed, phrasings="train"),
                                       {c.title for c in chunks} - held_titles),
                                RaftOptions(**{**vars(paraphrase), "p": args.p}))[0]
    write_jsonl(train, train_path)
    write_jsonl([e for e in examples if e.split == "test"], held_out_path(train_path))
    siblings = RaftOptions(k=args.k, p=args.test_p, distractors="siblings", test_fraction=0.0, seed=args.seed,
                           abstain=True)
    tests = {"namesakes": held_out_path(train_path),
             "siblings": write_split(*_only(fictional_corpus(args.entities, args.seed, layout="facts"), held_titles),
                                     siblings, work / "fictional.siblings.test.jsonl"),
             "paraphrase": write_split(*_only(paraphrased_corpus(args.entities, args.seed, phrasings="test"),
                                              held_titles), paraphrase, work / "fictional.paraphrase.test.jsonl")}
    # development entities: another seed, less any name the main corpus uses (the model trained on it)
    titles = {c.title for c in chunks}
    dev_titles = {c.title for c in fictional_corpus(args.dev_entities, args.seed + 1)[0]} - titles
    dev_options = RaftOptions(k=args.k, p=args.test_p, distractors="bm25", test_fraction=0.0, seed=args.seed + 1,
                              abstain=True)
    dev = {"namesakes": write_split(*_only(fictional_corpus(args.dev_entities, args.seed + 1), dev_titles),
                                    dev_options, work / "fictional.dev.jsonl"),
           "siblings": write_split(*_only(fictional_corpus(args.dev_entities, args.seed + 1, layout="facts"),
                                          dev_titles),
                                   RaftOptions(**{**vars(dev_options), "distractors": "siblings"}),
                                   work / "fictional.siblings.dev.jsonl"),
           # the development questions are asked in the train wordings: the test wordings stay unseen
           "paraphrase": write_split(*_only(paraphrased_corpus(args.dev_entities, args.seed + 1), dev_titles),
                                     RaftOptions(**{**vars(paraphrase), "seed": args.seed + 1}),
                                     work / "fictional.paraphrase.dev.jsonl")}
    return train_path, tests, dev


def _only(corpus: tuple[list, list], titles: set[str]) -> tuple[list, list]:
    chunks, questions = corpus
    kept = [c for c in chunks if c.title in titles]
    ids = {c.id for c in kept}
    return kept, [q for q in questions if q.oracle_id in ids]


def model_outputs(backend, tokenizer, items, *, max_tokens: int, greedy: bool) -> dict:
    """Per item: the abstain margin, the answer made after the answering opening, and (``greedy``) the
    model's own greedy reply."""
    from skyplex.interfaces import ChatMessage, GenerationParams
    from skyplex_raft.calibrate import abstain_margins, calibrated_replies

    margins = abstain_margins(backend, tokenizer, items)
    made = calibrated_replies(backend, tokenizer, items, float("inf"), max_tokens=max_tokens, margins=margins)
    replies = []
    if greedy:
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        for start in range(0, len(items), 8):
            prompts = [[ChatMessage(**m) for m in it.messages] for it in items[start:start + 8]]
            replies += [c.text for c in backend.generate(prompts, params)]
    return {"margins": margins, "made": made, "greedy": replies}


def rule_replies(items, out: dict, thresholds: dict[str, float]) -> dict[str, list[str]]:
    """Each rule's final reply per item, from one set of model outputs."""
    from skyplex_raft.builder import ABSTAIN_TARGET
    from skyplex_raft.grounded import grounded_reply, schema_grounded_reply

    def cut(margin: float, reply: str, threshold: float) -> str:
        return ABSTAIN_TARGET if margin > threshold else reply

    made_grounded = [grounded_reply(r, it.documents) for it, r in zip(items, out["made"])]
    return {"greedy": out["greedy"],
            "greedy+grounded": [grounded_reply(r, it.documents) for it, r in zip(items, out["greedy"])],
            "grounded": made_grounded,
            "grounded+schema": [schema_grounded_reply(r, it.documents, it.question) for it, r in zip(items, out["made"])],
            "calibrated": [cut(m, r, thresholds["calibrated"]) for m, r in zip(out["margins"], out["made"])],
            "calibrated+grounded": [cut(m, r, thresholds["calibrated+grounded"])
                                    for m, r in zip(out["margins"], made_grounded)]}


def score(items, replies: list[str], name: str) -> dict:
    """The COLUMNS of one rule on one condition, each a value with its bootstrap interval and n."""
    from skyplex_raft.evaluate import score_reply, summarize
    from skyplex_raft.grounded import is_supported

    rows = [{**score_reply(it, r), "oracle_present": it.oracle_present,
             "supported": float(is_supported(r, it.documents))} for it, r in zip(items, replies)]
    scores = {s.metric: s.model_dump() for s in summarize(name, rows, resamples=1000, seed=0)}
    return {c: scores.get(c) for c in COLUMNS}


def lexical_row(items, rule) -> dict:
    """A lexical rule's abstention on one condition's items, with intervals (it answers nothing: no F1)."""
    from skyplex_raft.evaluate import bootstrap_ci

    row = {}
    for column, present in (("abstain@distractors", False), ("abstain@oracle", True)):
        values = [float(rule(it)) for it in items if it.oracle_present is present]
        low, high = bootstrap_ci(values)
        row[column] = {"value": sum(values) / len(values), "ci_low": low, "ci_high": high, "n": len(values)}
    return row | {"f1@oracle": None, "supported@oracle": None}


def lexical_rows(test_items: dict, max_false: float) -> tuple[dict[str, dict], dict[str, float]]:
    """Every rule that reads no model, on every condition's held-out items; and the overlap thresholds."""
    rows: dict[str, dict] = {}
    overlap: dict[str, float] = {}
    for condition in test_items:
        for label, rule in LEXICAL_RULES.items():
            rows[f"{label}, {condition}"] = lexical_row(test_items[condition], rule)
        threshold = overlap[condition] = best_overlap_threshold(test_items[condition], max_false)
        rows[f"overlap rule < {threshold:.2f}, {condition}"] = lexical_row(
            test_items[condition], lambda it, t=threshold: lexical_overlap(it) < t)
    return rows, overlap


def rules_only(args: argparse.Namespace, tests: dict[str, Path]) -> int:
    """Score the rules that read no model on the held-out splits, print and write them; no model is loaded."""
    from skyplex_raft.evaluate import load_items

    test_items = {c: load_items(p, args.limit) for c, p in tests.items()}
    rows, overlap = lexical_rows(test_items, args.max_false)
    result = {"setting": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "overlap_thresholds": overlap, "scores": rows,
              "questions": {c: {"test": len(its), "test_with_oracle": sum(i.oracle_present for i in its)}
                            for c, its in test_items.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_table(f"rules that read no model, held-out questions per condition {result['questions']}",
                {name: {c: row[c] for c in COLUMNS[:2]} for name, row in rows.items()}, COLUMNS[:2], with_n=True,
                width=160)
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from skyplex.errors import InvalidInputError

    args = parse(argv)
    conditions = [c for c in CONDITIONS if c in args.conditions.split(",")]
    if sorted(conditions) != sorted(set(args.conditions.split(","))):
        raise InvalidInputError(f"--conditions {args.conditions}: choose among {','.join(CONDITIONS)}",
                                field="conditions")
    if args.rules_only:
        args.keep.mkdir(parents=True, exist_ok=True)
        tests = splits(args, args.keep)[1]
        return rules_only(args, {c: tests[c] for c in conditions})
    from skyplex.models.local import LocalBackend
    from skyplex_raft.calibrate import choose_grounded_threshold, choose_threshold, roc_auc
    from skyplex_raft.evaluate import load_items
    from skyplex_raft.grounded import is_supported
    from transformers import AutoTokenizer

    load_start = os.getloadavg()[0]
    args.keep.mkdir(parents=True, exist_ok=True)
    train_path, tests, dev = splits(args, args.keep)
    summary, train_s = train(train_path, args.keep / "lora", lora_options(args), args.data_dir)
    model_dir = summary["model_dir"]
    backend = LocalBackend(model_dir=model_dir, threads=args.threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    start = time.perf_counter()
    try:
        dev_items = {c: load_items(dev[c], args.dev_limit) for c in conditions}
        test_items = {c: load_items(tests[c], args.limit) for c in conditions}
        dev_out = {c: model_outputs(backend, tokenizer, its, max_tokens=args.max_tokens, greedy=False)
                   for c, its in dev_items.items()}
        test_out = {c: model_outputs(backend, tokenizer, its, max_tokens=args.max_tokens, greedy=True)
                    for c, its in test_items.items()}
    finally:
        backend.close()
    seconds = time.perf_counter() - start

    pooled = [it for c in conditions for it in dev_items[c]]
    margins = [m for c in conditions for m in dev_out[c]["margins"]]
    present = [it.oracle_present for it in pooled]
    supported = [is_supported(r, it.documents) for c in conditions for it, r in zip(dev_items[c], dev_out[c]["made"])]
    thresholds = {"calibrated": choose_threshold(margins, present, max_false=args.max_false),
                  "calibrated+grounded": choose_grounded_threshold(margins, supported, present,
                                                                   max_false=args.max_false)}
    dev_rows: dict[str, dict] = {}
    rows, overlap = lexical_rows(test_items, args.max_false)
    for condition in conditions:
        for rule, replies in rule_replies(test_items[condition], test_out[condition], thresholds).items():
            rows[f"{rule}, {condition}"] = score(test_items[condition], replies, rule)
        dev_replies = rule_replies(dev_items[condition], {**dev_out[condition], "greedy": dev_out[condition]["made"]},
                                   thresholds)
        for rule in ("grounded", "grounded+schema", "calibrated", "calibrated+grounded"):
            dev_rows[f"{rule}, {condition}"] = score(dev_items[condition], dev_replies[rule], rule)
    aucs = {c: {"dev": roc_auc(dev_out[c]["margins"], [i.oracle_present for i in dev_items[c]]),
                "test": roc_auc(test_out[c]["margins"], [i.oracle_present for i in test_items[c]])} for c in conditions}
    result = {"setting": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "machine": machine(load_start),
              "training": {"steps": summary["steps"], "resumed_from_step": summary.get("resumed_from_step"),
                           "seconds": train_s, "first_loss": summary["first_loss"], "final_loss": summary["final_loss"]},
              "scoring_seconds": seconds, "thresholds": thresholds, "overlap_thresholds": overlap, "margin_auc": aucs, "scores": rows,
              "dev_scores": dev_rows,
              "questions": {c: {"test": len(test_items[c]), "test_with_oracle": sum(i.oracle_present for i in test_items[c]),
                                "dev": len(dev_items[c])} for c in conditions},
              "items": {c: [{"question_id": it.question_id, "oracle_present": it.oracle_present, "margin": m,
                             "greedy": g, "made": r} for it, m, g, r in
                            zip(test_items[c], test_out[c]["margins"], test_out[c]["greedy"], test_out[c]["made"])]
                        for c in conditions},
              # the development outputs too, so a new rule can be chosen there later without the model
              "dev_items": {c: [{"question_id": it.question_id, "oracle_present": it.oracle_present, "margin": m,
                                 "made": r} for it, m, r in zip(dev_items[c], dev_out[c]["margins"], dev_out[c]["made"])]
                            for c in conditions}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_table(f"RAFT abstention, fictional entities, held-out questions per condition "
                f"{result['questions']}; thresholds (dev, pooled) {thresholds}", rows, COLUMNS, with_n=True, width=220)
    print_table("development split (threshold rules)", dev_rows, COLUMNS, with_n=True, width=220)
    print(f"margin AUC {json.dumps(aucs)}; scoring {seconds:.0f}s, load average {load_start:.1f} at start, "
          f"{result['machine']['load_average_1m']:.1f} at end; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
