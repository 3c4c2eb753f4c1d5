"""ZkAudit for skyplex: salted commitments to data and weights, zero-knowledge proofs of SGD training
and audits, verified from public artefacts only.

Importing the package does no work; the auditor lives in its module::

    from skyplex_zkaudit.auditor import ZkAuditor

See docs/plugins/zkaudit.md.
"""
