"""The ``raft`` trainer: builds RAFT datasets and fine-tunes a model on them with LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import DatasetArtifact, DatasetSpec, FinetuneSpec, Trainer, TrainingResult

from .builder import RaftOptions, build_examples, held_out_path, write_jsonl
from .documents import load_corpus
from .journal import QuestionJournal, journal_path, journaled_model_questions
from .questions import dedup_questions, template_questions

def _flag(value: Any) -> bool:
    """A yes/no option from JSON or a form: true/false, 1/0, yes/no (a bare ``bool("false")`` would be True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError(value)


_flag.__name__ = "true/false flag"
_OPTION_TYPES = {"k": int, "p": float, "distractors": str, "test_fraction": float, "seed": int, "abstain": _flag,
                 "test_p": float, "pairing": _flag, "curriculum": _flag}


_CORPUS_OPTIONS = {"max_chunks": int, "chunk_tokens": int, "tokenizer": str}


def options_from(values: dict[str, Any]) -> tuple[RaftOptions, dict[str, Any]]:
    """RaftOptions, and the corpus options (``max_chunks``, ``chunk_tokens``, ``tokenizer``), from a spec's
    options, refusing unknown names and bad types."""
    known = {**_OPTION_TYPES, **_CORPUS_OPTIONS}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidInputError(f"unknown option {unknown[0]!r}; known: {', '.join(known)}", field=unknown[0])
    kwargs, corpus = {}, {}
    for name, kind in known.items():
        if name in values and values[name] is not None:
            try:
                value = kind(values[name])
            except (TypeError, ValueError):
                raise InvalidInputError(f"option {name}={values[name]!r} is not a {kind.__name__}",
                                        field=name) from None
            (kwargs if name in _OPTION_TYPES else corpus)[name] = value
    options = RaftOptions(**kwargs)
    options.validate()
    return options, corpus


def build_dataset(source: str, out: Path, options: RaftOptions, *, max_chunks: int | None = None,
                  progress: Any = None, backend: Any = None, model_name: str | None = None,
                  chunk_tokens: int | None = None, count_tokens: Any = None) -> DatasetArtifact:
    """Read ``source``, template questions (and, given a kernel model ``backend``, one model-written
    question per chunk, journaled so a rerun after a crash resumes), build RAFT examples and write ``out``
    (train) and its ``.test.jsonl`` sibling (held-out split); the artifact's metadata holds the counts.
    ``chunk_tokens`` cuts documents into pieces of at most that many tokens as ``count_tokens`` counts."""
    options.validate()
    chunks = load_corpus(source, max_chunks=max_chunks, chunk_tokens=chunk_tokens, count=count_tokens)
    questions = template_questions(chunks)
    model_counts = {}

    def report(phase: str) -> Any:
        def call(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total, f"{phase}: {done}/{total}")
        return call

    if backend is not None:
        journal = QuestionJournal(journal_path(out), model_name or type(backend).__name__)
        written, rejected, reused = journaled_model_questions(chunks, backend, journal,
                                                              progress=report("model questions"))
        questions = dedup_questions(questions + written)
        model_counts = {"model_questions": len(written), "model_questions_rejected": rejected,
                        "model_replies_reused": reused, "journal": str(journal.path)}
    if not questions:
        raise InvalidInputError(f"{source}: no question could be templated from its documents (no signatures, "
                                "Return sentences or sections)", field="source")
    examples, counts = build_examples(chunks, questions, options, progress=report("questions"))
    train = [e for e in examples if e.split == "train"]
    test = [e for e in examples if e.split == "test"]
    n_train = write_jsonl(train, out)
    n_test = write_jsonl(test, held_out_path(out))
    present = sum(e.oracle_present for e in examples)
    return DatasetArtifact(path=str(out), num_examples=n_train, format="jsonl", metadata={
        "test_path": str(held_out_path(out)), "train_examples": n_train, "test_examples": n_test,
        "chunks": len(chunks), "questions": len(questions), "oracle_present_share": present / max(1, len(examples)),
        "k": options.k, "p": options.p, "test_p": options.test_p, "distractors": options.distractors,
        "chunk_tokens": chunk_tokens,
        "abstain": options.abstain, "pairing": options.pairing, "curriculum": options.curriculum,
        "abstain_examples": sum(e.abstains for e in examples),
        **counts, **model_counts})


class RaftTrainer(Trainer):
    """RAFT (retrieval augmented fine-tuning): ``build_dataset`` reads ``spec.source`` (``python:MODULES``
    or a text path); ``finetune`` trains a LoRA adapter on a built dataset."""

    name = "raft"

    def __init__(self, kernel: Any = None) -> None:
        """``kernel`` (given by the registry) supplies the data dir where the packaged model is converted."""
        self.kernel = kernel

    def build_dataset(self, spec: DatasetSpec, *, progress: Any = None) -> DatasetArtifact:
        """Build the dataset described by ``spec`` (options: k, p, test_p, distractors, test_fraction, seed, abstain,
        pairing, curriculum, max_chunks, chunk_tokens and tokenizer: a kernel model backend whose tokenizer counts, ``local`` by
        default, or ``words``)."""
        if not spec.output:
            raise InvalidInputError("the dataset spec needs output: the .jsonl file to write", field="output")
        options, corpus = options_from(spec.options)
        count = None
        if corpus.get("chunk_tokens") is not None:
            count = self._token_counter(corpus.get("tokenizer", "local"))
        return build_dataset(spec.source, Path(spec.output), options, max_chunks=corpus.get("max_chunks"),
                             chunk_tokens=corpus.get("chunk_tokens"), count_tokens=count, progress=progress)

    def _token_counter(self, tokenizer: str) -> Any:
        """``count_tokens`` of the kernel model ``tokenizer`` (``words``: blank-separated words, no model)."""
        if tokenizer == "words":
            return None
        if self.kernel is None:
            from skyplex.models.local import LocalBackend

            if tokenizer != "local":
                raise InvalidInputError(f"tokenizer {tokenizer!r} needs a kernel to resolve; use local or words",
                                        field="tokenizer")
            return LocalBackend(data_dir=self._data_dir({})).count_tokens
        return self.kernel.models.get(tokenizer).count_tokens

    def _data_dir(self, options: dict[str, Any]) -> Path:
        if options.get("data_dir"):
            return Path(options["data_dir"])
        if self.kernel is not None:
            return Path(self.kernel.settings.data_dir)
        from skyplex.config import Settings

        return Path(Settings.load().data_dir)

    def finetune(self, spec: FinetuneSpec, *, progress: Any = None) -> TrainingResult:
        """LoRA-tune ``spec.base_model`` (``local`` or a transformers folder) on the chat JSONL ``spec.dataset``
        into ``spec.output`` (options: r, alpha, dropout, target_modules, learning_rate, epochs, max_steps,
        batch_size, max_seq_len, max_examples, save_every, seed, merge, threads, data_dir). Resumes from the
        checkpoint in ``spec.output`` when one of the same run is there."""
        from .finetune import finetune_lora, lora_options_from

        if not spec.output:
            raise InvalidInputError("the fine-tune spec needs output: the folder for the adapter and model",
                                    field="output")
        options, rest = lora_options_from(spec.options)
        unknown = sorted(set(rest) - {"data_dir"})
        if unknown:
            raise InvalidInputError(f"unknown fine-tune option {unknown[0]!r}", field=unknown[0])
        summary = finetune_lora(Path(spec.dataset), spec.base_model, Path(spec.output), options,
                                data_dir=self._data_dir(spec.options), progress=progress)
        metrics = {"final_loss": summary["final_loss"], "first_loss": summary["first_loss"],
                   "steps": float(summary["steps"]), "tokens_trained": float(summary["tokens_trained"])}
        return TrainingResult(model_path=summary.get("model_dir") or summary["adapter_dir"], metrics=metrics,
                              metadata={k: v for k, v in summary.items() if k != "losses"})
