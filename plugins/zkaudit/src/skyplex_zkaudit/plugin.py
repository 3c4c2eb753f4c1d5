"""skyplex hook implementations for ZkAudit. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_auditors(register):
    """Register the ``zkaudit`` auditor."""
    register("zkaudit", "skyplex_zkaudit.auditor:ZkAuditor", description="ZkAudit: salted commitments, ezkl proofs of SGD training and audits")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex zkaudit commit|prove|verify``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add ``POST /plugins/zkaudit/verify`` (public artefacts only)."""
    from .routes import register

    register(router, kernel)
