"""``skyplex zkaudit``: commit to artefacts, prove claims (as jobs with progress), verify proofs.

Bad input (a file that is not JSON, an artifact, claim or proof not in the documented format, a claim
that cannot be proven here) is one line naming the field, exit 2. A rejected proof is exit 1. Every
command takes ``--json`` (or ``skyplex --json zkaudit ...``), through the kernel's CLI helpers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, json_option, pass_kernel
from skyplex.errors import InvalidInputError

from . import formats as fm


def _auditor(kernel):
    return kernel.auditors.get("zkaudit")


def read_model(model: Any, path: str, what: str) -> Any:
    """``path`` parsed as JSON into the pydantic ``model``; one line naming the file and field otherwise."""
    from pydantic import ValidationError

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the {what} file ({exc.__class__.__name__}: {exc})") from None
    try:
        data = fm.loads_strict(text, "")
    except fm.FormatError as exc:
        raise InvalidInputError(f"{path}: {exc.message}", field=exc.field) from None
    except ValueError as exc:
        raise InvalidInputError(f"{path}: the {what} file is not JSON ({exc})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise InvalidInputError(f"{path}: invalid {what} at '{where}': {first['msg']} "
                                f"(see docs/plugins/zkaudit.md for the {what} format)", field=where) from None


def _in_file(path: str, exc: InvalidInputError) -> InvalidInputError:
    return InvalidInputError(f"{path}: {exc.message}", field=exc.field)


@click.group()
def zkaudit() -> None:
    """ZkAudit: commitments and zero-knowledge proofs of training and audits."""


@zkaudit.command()
@click.argument("artifact_file", type=click.Path(exists=True, dir_okay=False))
@json_option
@pass_kernel
def commit(kernel, artifact_file, json_output) -> None:
    """Commit to a dataset or weights artifact (JSON: {"kind": ..., "data": {...}}); prints the public record.

    The record is JSON with or without --json: it is what others verify against.
    """
    from skyplex.interfaces import Artifact

    artifact = read_model(Artifact, artifact_file, "artifact")
    try:
        c = _auditor(kernel).commit(artifact)
    except InvalidInputError as exc:
        raise _in_file(artifact_file, exc) from None
    emit(c, json_output=json_output)


@zkaudit.command()
@click.argument("claim_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to write the proof JSON.")
@json_option
@pass_kernel
def prove(kernel, claim_file, out, json_output) -> None:
    """Prove a claim (JSON) as a job, showing progress; writes the proof JSON to --out."""
    from skyplex.interfaces import Claim

    from .routes import submit_prove_job

    claim = read_model(Claim, claim_file, "claim")
    try:
        _auditor(kernel).check(claim)
    except InvalidInputError as exc:
        raise _in_file(claim_file, exc) from None
    job = kernel.jobs.wait(submit_prove_job(kernel, claim).id)
    if str(getattr(job.status, "value", job.status)) != "succeeded":
        raise click.ClickException(f"proving failed: {job.error}")
    Path(out).write_text(json.dumps(job.result, indent=1))
    emit({"proof": out, "job_id": job.id, "claim": claim.kind}, json_output=json_output,
         human=lambda data: click.echo(f"proof written to {data['proof']}"))


@zkaudit.command()
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--records", type=click.Path(exists=True, file_okay=False),
              help="Folder of public commitment records (<id>.json); default: this data dir's.")
@click.option("--keys", type=click.Path(exists=True, file_okay=False),
              help="The key store: <circuit>/{settings.json, model.compiled, vk}; default: this data dir's.")
@click.option("--srs", type=click.Path(exists=True, dir_okay=False), help="The SRS the prover used.")
@json_option
@pass_kernel
def verify(kernel, proof_file, records, keys, srs, json_output) -> None:
    """Verify a proof using public artefacts only; exit status 1 when it is rejected."""
    from skyplex.interfaces import Proof

    from .verify import verify_proof

    proof = read_model(Proof, proof_file, "proof")
    root = Path(kernel.settings.data_dir) / "zkaudit"
    rec_dir = Path(records) if records else root / "public"
    key_dir = Path(keys) if keys else root / "circuits"

    def lookup(cid: str):
        if not fm.is_commitment_id(cid):  # never a path: only ids as commit spells them name a file
            return None
        p = rec_dir / f"{cid}.json"
        if not p.is_file():
            return None
        try:
            return fm.loads_strict(p.read_text(), f"record {cid}")  # a duplicated key is a rejection naming it
        except fm.FormatError:
            raise
        except (OSError, ValueError):
            return {"unreadable": str(p)}  # the record check names it

    verdict = verify_proof(proof, lookup, key_dir, Path(srs) if srs else None)
    emit(verdict, json_output=json_output,
         human=lambda v: click.echo(("VALID: " if v.valid else "REJECTED: ") + v.reason))
    if not verdict.valid:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    """Add ``skyplex zkaudit ...`` to the ``skyplex`` group (called from the plugin's hook)."""
    cli.add_command(zkaudit)
