"""``skyplex raft build|sft|finetune|eval|attribute|probe|sweep|plot``: the command-line face of the plugin, on the kernel's CLI
helpers (``--json`` output, bad input reported as one line with exit 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, fail, json_option, pass_kernel


@click.group("raft")
def raft() -> None:
    """RAFT: open-book QA training data with oracle and distractor documents."""


@raft.command("build")
@click.option("--source", default="python:json,textwrap", show_default=True,
              help="python:MOD1,MOD2 (installed modules' API docs) or a text/Markdown file or folder.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Train split JSONL to write; the test split goes beside it as NAME.test.jsonl.")
@click.option("-k", "k", type=int, default=4, show_default=True, help="Documents shown with each question.")
@click.option("-p", "p", type=float, default=0.8, show_default=True, help="Share of examples that keep their oracle.")
@click.option("--distractors", type=click.Choice(["bm25", "random", "siblings"]), default="bm25", show_default=True,
              help="bm25: hard negatives that match the question; random: any other chunk; siblings: the oracle's "
              "document's other pieces (same title) first, then bm25's.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True, help="Share of oracles held out.")
@click.option("--abstain", is_flag=True,
              help="Examples without their oracle teach 'The documents do not contain the answer.'")
@click.option("--pairing", is_flag=True,
              help="Train questions in pairs: with the oracle and without it, the same distractors otherwise.")
@click.option("--curriculum", is_flag=True,
              help="Half the train questions get random (easy) distractors, stage 0; the rest BM25's, stage 1.")
@click.option("--max-chunks", type=int, help="Use only the first N chunks of the corpus.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--hf-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also save both splits as a Hugging Face DatasetDict in this folder.")
@click.option("--model", "model", help="Kernel model backend that also writes one question per chunk.")
@click.option("--chunk-tokens", type=int, help="Cut documents into pieces of at most N tokens (else whole docs).")
@click.option("--tokenizer", default="local", show_default=True,
              help="Model backend whose tokenizer counts --chunk-tokens, or 'words'.")
@json_option
@pass_kernel
def build_cmd(kernel: Any, source: str, out: Path, k: int, p: float, distractors: str, test_fraction: float,
              abstain: bool, pairing: bool, curriculum: bool, max_chunks: int | None, seed: int,
              hf_dir: Path | None, model: str | None,
              chunk_tokens: int | None, tokenizer: str, json_output: bool) -> None:
    """Build a RAFT dataset from SOURCE's documents into --out (chat-format JSONL)."""
    from .builder import RaftOptions
    from .trainer import build_dataset

    if max_chunks is not None and max_chunks < 2:
        fail(f"--max-chunks {max_chunks}: a RAFT dataset needs at least 2 chunks", field="max_chunks")
    count = None
    if chunk_tokens is not None and tokenizer != "words":
        count = kernel.models.get(tokenizer).count_tokens
    artifact = build_dataset(source, out, RaftOptions(k=k, p=p, distractors=distractors,
                                                      test_fraction=test_fraction, seed=seed,
                                                      abstain=abstain, pairing=pairing,
                                                      curriculum=curriculum),
                             max_chunks=max_chunks, backend=kernel.models.get(model) if model else None,
                             model_name=model, chunk_tokens=chunk_tokens, count_tokens=count)
    if hf_dir is not None:
        from .hf import save_hf_dataset

        save_hf_dataset(Path(artifact.path), Path(artifact.metadata["test_path"]), hf_dir)
        artifact.metadata["hf_dir"] = str(hf_dir)
    emit(artifact, json_output=json_output, human=_print)


def _print(artifact: Any) -> None:
    meta = artifact.metadata
    click.echo(f"wrote {meta['train_examples']} train examples to {artifact.path} and {meta['test_examples']} "
               f"test examples to {meta['test_path']} ({meta['chunks']} chunks, "
               f"oracle present in {meta['oracle_present_share']:.0%})")


@raft.command("finetune")
@click.option("--dataset", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Train split JSONL written by `skyplex raft build`.")
@click.option("--base-model", default="local", show_default=True,
              help="local (the packaged SmolLM2) or a folder holding a transformers model.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the checkpoint, adapter/ and model/ (a rerun resumes from its checkpoint).")
@click.option("--max-steps", type=int, help="Optimizer steps (default: --epochs passes over the data).")
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--max-seq-len", type=int, default=1024, show_default=True, help="Longer examples lose document text.")
@click.option("--rank", "r", type=int, default=16, show_default=True, help="LoRA rank.")
@click.option("--alpha", type=int, default=32, show_default=True, help="LoRA alpha.")
@click.option("--learning-rate", type=float, default=2e-4, show_default=True)
@click.option("--batch-size", type=int, default=1, show_default=True)
@click.option("--save-every", type=int, default=10, show_default=True, help="Checkpoint every N steps.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-merge", is_flag=True, help="Save the adapter only, not the merged model.")
@click.option("--curriculum", is_flag=True,
              help="Train on the dataset's stages in order, easy first (a build made with --curriculum).")
@click.option("--opening-tokens", type=int, default=0, show_default=True,
              help="Weigh the loss on each answer's first N tokens --opening-weight times (0: off).")
@click.option("--opening-weight", type=float, default=1.0, show_default=True)
@json_option
@pass_kernel
def finetune_cmd(kernel: Any, dataset: Path, base_model: str, out: Path, max_steps: int | None, epochs: float,
                 max_seq_len: int, r: int, alpha: int, learning_rate: float, batch_size: int, save_every: int,
                 seed: int, no_merge: bool, curriculum: bool, opening_tokens: int, opening_weight: float,
                 json_output: bool) -> None:
    """LoRA-tune a model on a RAFT dataset; the merged model loads in the local backend (model_dir)."""
    from skyplex.interfaces import FinetuneSpec

    from .trainer import RaftTrainer

    options = {"max_steps": max_steps, "epochs": epochs, "max_seq_len": max_seq_len, "r": r, "alpha": alpha,
               "learning_rate": learning_rate, "batch_size": batch_size, "save_every": save_every, "seed": seed,
               "merge": not no_merge, "curriculum": curriculum, "opening_tokens": opening_tokens,
               "opening_weight": opening_weight}
    spec = FinetuneSpec(dataset=str(dataset), base_model=base_model, output=str(out), options=options)
    result = RaftTrainer(kernel=kernel).finetune(
        spec, progress=None if json_output else lambda done, total, message: click.echo(message, err=True))
    emit(result, json_output=json_output, human=_print_training)


def _print_training(result: Any) -> None:
    meta = result.metadata
    resumed = f", resumed at step {meta['resumed_from_step']}" if meta["resumed_from_step"] else ""
    click.echo(f"trained {meta['steps']} steps on {meta['examples']} examples{resumed} (loss "
               f"{meta['first_loss']:.2f} -> {meta['final_loss']:.2f}); model in {result.model_path}")


@raft.command("sft")
@click.option("--dataset", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Train split JSONL written by `skyplex raft build`.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL to write: every train question without documents, with its quoted answer.")
@json_option
def sft_cmd(dataset: Path, out: Path, json_output: bool) -> None:
    """Write the domain fine-tuning baseline (SFT) of a RAFT train split: the same questions and answer
    targets, no documents; fine-tune on it with `skyplex raft finetune` like any dataset."""
    from .sft import write_sft_dataset

    if out.resolve() == dataset.resolve():
        fail(f"--out {out} is the --dataset itself; give another file for the SFT data", field="out")
    count = write_sft_dataset(dataset, out)
    emit({"path": str(out), "dataset": str(dataset), "examples": count}, json_output=json_output,
         human=lambda r: click.echo(f"wrote {r['examples']} SFT examples (questions without documents) to {r['path']}"))


@raft.command("eval")
@click.option("--dataset", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Test split JSONL (NAME.test.jsonl from `skyplex raft build`).")
@click.option("--base", "base", default="local", show_default=True, help="Kernel model backend of the base model.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path),
              help="A fine-tune's model/ folder, scored with the documents as `raft`.")
@click.option("--limit", type=int, help="Score only the first N questions.")
@click.option("--max-tokens", type=int, default=128, show_default=True)
@click.option("--grounded", is_flag=True,
              help="An answer made with the documents stands only when a verbatim quote of them holds it; "
              "otherwise it is scored as saying the documents do not hold the answer.")
@json_option
@pass_kernel
def eval_cmd(kernel: Any, dataset: Path, base: str, model_dir: Path | None, limit: int | None, max_tokens: int,
             grounded: bool, json_output: bool) -> None:
    """Score the base model closed-book and with the documents (RAG), and a fine-tune with them (RAFT)."""
    from skyplex.interfaces import Subject, Suite

    from .evaluate import RaftEvaluator

    subjects = [Subject(name="base", backend=base, params={"documents": False}),
                Subject(name="base+rag", backend=base)]
    if model_dir is not None:
        subjects.append(Subject(name="raft", model=str(model_dir)))
    evaluator = RaftEvaluator(kernel=kernel)
    try:
        report = evaluator.evaluate(subjects, Suite(name="raft", options={
            "dataset": str(dataset), "limit": limit, "max_tokens": max_tokens, "grounded": grounded}))
    finally:
        evaluator.close()
    emit(report, json_output=json_output, human=_print_grounded_report if grounded else _print_report)


def _print_grounded_report(report: Any) -> None:
    _print_report(report, ["abstain@distractors", "abstain@oracle", "f1@oracle", "supported"])


def _print_report(report: Any, columns: list[str] | None = None) -> None:
    values = {(s.subject, s.metric): s for s in report.scores}
    columns = columns or ["exact_match@oracle", "exact_match@distractors", "f1@oracle", "quote_precision"]
    click.echo(f"{'subject':<10} " + " ".join(f"{c:>24}" for c in columns))
    for subject in dict.fromkeys(s.subject for s in report.scores):
        cells = []
        for column in columns:
            score = values.get((subject, column))
            cells.append(f"{score.value:>18.2f} n={score.n:<3}" if score else f"{'-':>24}")
        click.echo(f"{subject:<10} " + " ".join(cells))


@raft.command("attribute")
@click.option("--dataset", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The split scored (NAME.test.jsonl).")
@click.option("--calibrate-on", "calibrate_on", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A split of other questions, with the oracle and without it, the threshold is chosen on.")
@click.option("--method", type=click.Choice(["sentence", "question", "both"]), default="both", show_default=True,
              help="Support: log P(sentence | question) PMI, log P(question | sentence) PMI, or their sum.")
@click.option("--base", "base", default="local", show_default=True, help="Kernel model backend that scores.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path),
              help="A transformers model folder (a fine-tune's model/) to score with instead of --base.")
@click.option("--limit", type=int, help="Score only the first N questions of --dataset.")
@click.option("--calibrate-limit", type=int, help="Use only the first N questions of --calibrate-on.")
@click.option("--max-false", type=float, default=0.05, show_default=True,
              help="False abstention allowed on the calibration questions that show their oracle.")
@click.option("--max-words", type=int, default=4, show_default=True, help="Longest answer span, in words.")
@json_option
@pass_kernel
def attribute_cmd(kernel: Any, dataset: Path, calibrate_on: Path, method: str, base: str, model_dir: Path | None,
                  limit: int | None, calibrate_limit: int | None, max_false: float, max_words: int,
                  json_output: bool) -> None:
    """Answer by likelihood attribution: abstain unless a shown sentence supports the question by more than a
    threshold chosen on --calibrate-on, else answer with a span of that sentence, quoted."""
    from .attribution import evaluate_attribution
    from .evaluate import load_items

    if dataset.resolve() == calibrate_on.resolve():
        fail(f"--calibrate-on {calibrate_on}: the threshold must be chosen on other questions than --dataset's")
    items, calibration = load_items(dataset, limit), load_items(calibrate_on, calibrate_limit)
    with _scoring_backend(kernel, model_dir, base) as backend:
        result = evaluate_attribution(backend, calibration, items, method=method, max_false=max_false,
                                      max_words=max_words)
    payload = {"method": method, "threshold": result["threshold"], "auc": result["auc"],
               "scores": [s.model_dump() for s in result["scores"]]}
    emit(payload, json_output=json_output, human=_print_attribution)


@contextmanager
def _scoring_backend(kernel: Any, model_dir: Path | None, name: str) -> Iterator[Any]:
    """The backend a command reads and answers with: a fine-tune's ``--model-dir`` (opened here, closed
    after) or the kernel's model ``name``."""
    if model_dir is None:
        yield kernel.models.get(name)
        return
    from skyplex.models.local import LocalBackend

    if not (model_dir / "config.json").is_file():
        fail(f"--model-dir {model_dir}: not a folder holding a model (config.json)")
    backend = LocalBackend(model_dir=model_dir, kernel=kernel)
    try:
        yield backend
    finally:
        backend.close()


def _print_attribution(payload: dict[str, Any]) -> None:
    click.echo(f"threshold {payload['threshold']:.3f} (chosen on --calibrate-on); support AUC calibration "
               f"{payload['auc']['calibration']:.2f}, scored {payload['auc']['items']:.2f}")
    _print_metric_lines(payload["scores"])


@raft.command("probe")
@click.option("--dataset", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The split scored (NAME.test.jsonl).")
@click.option("--train", "train", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Abstain-mode examples, with the oracle and without it, the probe is trained on.")
@click.option("--calibrate-on", "calibrate_on", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A split of other questions, with the oracle and without it, the threshold is chosen on.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path),
              help="A transformers model folder (a fine-tune's model/) to read and answer with (default: local).")
@click.option("--limit", type=int, help="Score only the first N questions of --dataset.")
@click.option("--train-limit", type=int, help="Train on the first N examples of --train only.")
@click.option("--calibrate-limit", type=int, help="Use only the first N questions of --calibrate-on.")
@click.option("--max-false", type=float, default=0.05, show_default=True,
              help="False abstention allowed on the calibration questions that show their oracle.")
@click.option("--max-tokens", type=int, default=64, show_default=True, help="Tokens of each answer made.")
@click.option("--grounded", is_flag=True, help="Keep an answer only when a verbatim quote of the documents holds it.")
@click.option("--per-document", is_flag=True,
              help="Read the question with one document at a time; abstain when the best document's score is low.")
@json_option
@pass_kernel
def probe_cmd(kernel: Any, dataset: Path, train: Path, calibrate_on: Path, model_dir: Path | None, limit: int | None,
              train_limit: int | None, calibrate_limit: int | None, max_false: float, max_tokens: int, grounded: bool,
              per_document: bool, json_output: bool) -> None:
    """Abstain by a decision probe: a logistic regression on the model's hidden states, trained on --train,
    its threshold chosen on --calibrate-on; where it answers, the model answers after the quoted opening."""
    from .docprobe import document_features, evaluate_document_probe
    from .evaluate import load_items
    from .probe import evaluate_probe, item_features, load_model, made_answers

    named = {"--dataset": dataset, "--train": train, "--calibrate-on": calibrate_on}
    for (a, pa), (b, pb) in [(("--calibrate-on", calibrate_on), ("--dataset", dataset)),
                             (("--calibrate-on", calibrate_on), ("--train", train)),
                             (("--train", train), ("--dataset", dataset))]:
        if pa.resolve() == pb.resolve():
            fail(f"{a} {pa}: is {b} too; the probe is trained, thresholded and scored on three different splits")
    if max_tokens < 1:
        fail(f"--max-tokens {max_tokens}: give at least 1", field="max_tokens")
    loaded = {name: load_items(path, lim) for (name, path), lim in zip(named.items(), (limit, train_limit,
                                                                                        calibrate_limit))}
    with _scoring_backend(kernel, model_dir, "local") as backend:
        backend.count_tokens("x")  # the packaged model converted into the data dir, if it is not yet
        model, tokenizer = load_model(model_dir or backend.cache_dir)
        evaluate, read = ((evaluate_document_probe, document_features) if per_document
                          else (evaluate_probe, item_features))
        result = evaluate(lambda items: read(model, tokenizer, items),
                          lambda items: made_answers(backend, tokenizer, items, max_tokens=max_tokens),
                          loaded["--train"], loaded["--calibrate-on"], loaded["--dataset"], max_false=max_false,
                          grounded=grounded)
    payload = {key: result[key] for key in ("layer", "pooling", "l2", "threshold", "auc")}
    payload["probe"] = "per document" if per_document else "whole prompt"
    payload["scores"] = [s.model_dump() for s in result["scores"]]
    emit(payload, json_output=json_output, human=_print_probe)


def _print_probe(payload: dict[str, Any]) -> None:
    auc = payload["auc"]
    prefix = "per-document probe: " if payload.get("probe") == "per document" else ""
    click.echo(f"{prefix}layer {payload['layer']}, {payload['pooling']} pooling, l2 {payload['l2']:g} "
               f"(cross-validated on --train, AUC {auc['train_cv']:.2f}); threshold {payload['threshold']:.3f} (chosen on --calibrate-on); "
               f"probe AUC calibration {auc['calibration']:.2f}, scored {auc['items']:.2f}")
    _print_metric_lines(payload["scores"])


def _print_metric_lines(scores: list[dict[str, Any]]) -> None:
    values = {s["metric"]: s for s in scores}
    for metric in ("abstain@distractors", "abstain@oracle", "f1@oracle", "supported@oracle"):
        s = values.get(metric)
        click.echo(f"{metric:<20} " + (f"{s['value']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}] n={s['n']}" if s else "-"))


@raft.command("sweep")
@click.option("--source", default="python:json,textwrap", show_default=True,
              help="python:MOD1,MOD2 or a text/Markdown file or folder (as for build).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for each cell's dataset and adapter, sweep.json and the plot.")
@click.option("-p", "p", default="0.5,0.8,1.0", show_default=True, help="Values of P, comma-separated.")
@click.option("-k", "k", default="2,4", show_default=True, help="Values of k, comma-separated.")
@click.option("--metric", default="f1", show_default=True, help="The score plotted (any the evaluator reports).")
@click.option("--test-p", type=float, default=0.5, show_default=True,
              help="Oracle share of every cell's held-out split (fine-tuning sweeps).")
@click.option("--no-finetune", is_flag=True,
              help="Score --base on each cell's split (oracle share P) without training.")
@click.option("--base", "base", default="local", show_default=True,
              help="Base model: fine-tuned in each cell, or scored as is with --no-finetune.")
@click.option("--abstain", is_flag=True, help="Build abstain-mode datasets (see build).")
@click.option("--max-chunks", type=int, help="Use only the first N chunks of the corpus.")
@click.option("--chunk-tokens", type=int, help="Cut documents into pieces of at most N words.")
@click.option("--max-steps", type=int, help="LoRA steps per cell (default: one epoch).")
@click.option("--max-seq-len", type=int, default=1024, show_default=True)
@click.option("--rank", "r", type=int, default=16, show_default=True, help="LoRA rank.")
@click.option("--learning-rate", type=float, default=2e-4, show_default=True)
@click.option("--limit", type=int, help="Score only the first N held-out questions of each cell.")
@click.option("--max-tokens", type=int, default=128, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@pass_kernel
def sweep_cmd(kernel: Any, source: str, out: Path, p: str, k: str, metric: str, test_p: float, no_finetune: bool,
              base: str, abstain: bool, max_chunks: int | None, chunk_tokens: int | None, max_steps: int | None,
              max_seq_len: int, r: int, learning_rate: float, limit: int | None, max_tokens: int, seed: int,
              json_output: bool) -> None:
    """Sweep P and k: build, fine-tune and score each cell, write sweep.json and plot --metric (sweep.png)."""
    from .builder import RaftOptions
    from .sweep import parse_knob, plot_sweep, run_sweep

    ps, ks = parse_knob(p, "p"), [int(v) for v in parse_knob(k, "k")]
    RaftOptions(test_p=test_p).validate()
    _check_metric(metric)
    if (limit is not None and limit < 1) or max_tokens < 1:
        fail("--limit and --max-tokens must be at least 1", field="limit")
    if max_chunks is not None and max_chunks < 2:
        fail(f"--max-chunks {max_chunks}: a RAFT dataset needs at least 2 chunks", field="max_chunks")
    _plot_available()
    from .finetune import lora_options_from

    lora = {name: value for name, value in {"max_steps": max_steps, "max_seq_len": max_seq_len, "r": r,
                                           "alpha": 2 * r, "learning_rate": learning_rate, "seed": seed}.items()
            if value is not None}
    lora_options_from(lora)  # bad LoRA settings are refused before any dataset is built
    results = run_sweep(source, out, ps, ks, base_model=base, data_dir=Path(kernel.settings.data_dir),
                        finetune=not no_finetune, backend=kernel.models.get(base) if no_finetune else None,
                        test_p=test_p, build={"seed": seed, "abstain": abstain}, max_chunks=max_chunks,
                        chunk_tokens=chunk_tokens, lora=lora,
                        suite={"limit": limit, "max_tokens": max_tokens, "seed": seed},
                        progress=None if json_output else lambda message: click.echo(message, err=True))
    plot_sweep(results, metric, out / "sweep.png")
    results.update(plot=str(out / "sweep.png"), metric=metric, results=str(out / "sweep.json"))
    emit(results, json_output=json_output, human=_print_sweep)


def _check_metric(metric: str) -> None:
    from .evaluate import METRIC_NAMES

    names = [m for m in METRIC_NAMES if not m.startswith("supported")]  # a sweep's cells are never grounded
    if metric not in names:
        fail(f"--metric {metric!r} is not a raft score of a sweep; choose one of {', '.join(names)}", field="metric")


def _plot_available() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        fail("plotting needs matplotlib: pip install 'skyplex-raft[plot]'", field="metric")


def _print_sweep(results: dict[str, Any]) -> None:
    metric = results["metric"]
    click.echo(f"{'p':>5} {'k':>3} {metric:>28}")
    for cell in results["cells"]:
        score = cell["scores"].get(metric)
        shown = (f"{score['value']:.2f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}] n={score['n']}"
                 if score else "-")
        click.echo(f"{cell['p']:>5.2f} {cell['k']:>3} {shown:>28}")
    click.echo(f"wrote {results['plot']}" + (f" and {results['results']}" if results.get("results") else ""))


@raft.command("plot")
@click.option("--results", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="sweep.json written by `skyplex raft sweep`.")
@click.option("--metric", default="f1", show_default=True, help="The score to draw.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG to write.")
def plot_cmd(results: Path, metric: str, out: Path) -> None:
    """Plot another metric of a finished sweep against P and k."""
    from .sweep import load_sweep, plot_sweep

    _check_metric(metric)
    _plot_available()
    loaded = load_sweep(results)
    plot_sweep(loaded, metric, out)
    _print_sweep({**loaded, "metric": metric, "plot": str(out), "results": None})


def register(cli: click.Group) -> None:
    """Add ``skyplex raft ...`` to the ``skyplex`` CLI."""
    cli.add_command(raft)
