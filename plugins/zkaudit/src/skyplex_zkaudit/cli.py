"""``skyplex zkaudit``: commit to artefacts, prove claims (as jobs with progress), verify proofs."""

from __future__ import annotations

import json
from pathlib import Path

import click
from skyplex.cli import pass_kernel


def _auditor(kernel):
    return kernel.auditors.get("zkaudit")


@click.group()
def zkaudit() -> None:
    """ZkAudit: commitments and zero-knowledge proofs of training and audits."""


@zkaudit.command()
@click.argument("artifact_file", type=click.Path(exists=True, dir_okay=False))
@pass_kernel
def commit(kernel, artifact_file) -> None:
    """Commit to a dataset or weights artifact (JSON: {"kind": ..., "data": {...}}); prints the public record."""
    from skyplex.interfaces import Artifact

    c = _auditor(kernel).commit(Artifact.model_validate_json(Path(artifact_file).read_text()))
    click.echo(c.model_dump_json(indent=1))


@zkaudit.command()
@click.argument("claim_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to write the proof JSON.")
@pass_kernel
def prove(kernel, claim_file, out) -> None:
    """Prove a claim (JSON) as a job, showing progress; writes the proof JSON to --out."""
    from skyplex.interfaces import Claim

    from .routes import submit_prove_job

    claim = Claim.model_validate_json(Path(claim_file).read_text())
    job = submit_prove_job(kernel, claim)
    job = kernel.jobs.wait(job.id)
    if str(getattr(job.status, "value", job.status)) != "succeeded":
        raise click.ClickException(f"proving failed: {job.error}")
    Path(out).write_text(json.dumps(job.result, indent=1))
    click.echo(f"proof written to {out}")


@zkaudit.command()
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--records", type=click.Path(exists=True, file_okay=False),
              help="Folder of public commitment records (<id>.json); default: this data dir's.")
@click.option("--keys", type=click.Path(exists=True, file_okay=False),
              help="Folder of public circuit files (<circuit>/settings.json, vk); default: this data dir's.")
@click.option("--srs", type=click.Path(exists=True, dir_okay=False), help="The SRS the prover used.")
@pass_kernel
def verify(kernel, proof_file, records, keys, srs) -> None:
    """Verify a proof using public artefacts only; exit status 1 when it is rejected."""
    from skyplex.interfaces import Proof

    from .verify import verify_proof

    root = Path(kernel.settings.data_dir) / "zkaudit"
    rec_dir = Path(records) if records else root / "public"
    key_dir = Path(keys) if keys else root / "circuits"

    def lookup(cid: str):
        p = rec_dir / f"{cid}.json"
        return json.loads(p.read_text()) if p.exists() else None

    verdict = verify_proof(Proof.model_validate_json(Path(proof_file).read_text()), lookup, key_dir,
                           Path(srs) if srs else None)
    click.echo(("VALID: " if verdict.valid else "REJECTED: ") + verdict.reason)
    if not verdict.valid:
        raise SystemExit(1)
