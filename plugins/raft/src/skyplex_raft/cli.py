"""``skyplex raft build``: the command-line face of the plugin, on the kernel's CLI helpers (``--json``
output, bad input reported as one line with exit 2)."""

from __future__ import annotations

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
@click.option("--distractors", type=click.Choice(["bm25", "random"]), default="bm25", show_default=True,
              help="bm25: hard negatives that match the question; random: any other chunk.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True, help="Share of oracles held out.")
@click.option("--max-chunks", type=int, help="Use only the first N chunks of the corpus.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--hf-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also save both splits as a Hugging Face DatasetDict in this folder.")
@click.option("--model", "model", help="Kernel model backend that also writes one question per chunk.")
@json_option
@pass_kernel
def build_cmd(kernel: Any, source: str, out: Path, k: int, p: float, distractors: str, test_fraction: float,
              max_chunks: int | None, seed: int, hf_dir: Path | None, model: str | None,
              json_output: bool) -> None:
    """Build a RAFT dataset from SOURCE's documents into --out (chat-format JSONL)."""
    from .builder import RaftOptions
    from .trainer import build_dataset

    if max_chunks is not None and max_chunks < 2:
        fail(f"--max-chunks {max_chunks}: a RAFT dataset needs at least 2 chunks", field="max_chunks")
    artifact = build_dataset(source, out, RaftOptions(k=k, p=p, distractors=distractors,
                                                      test_fraction=test_fraction, seed=seed),
                             max_chunks=max_chunks, backend=kernel.models.get(model) if model else None)
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


def register(cli: click.Group) -> None:
    """Add ``skyplex raft ...`` to the ``skyplex`` CLI."""
    cli.add_command(raft)
