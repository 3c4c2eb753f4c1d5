"""ZkAudit for skyplex: commitments, proofs of training and audits. Importing this package is cheap."""

__all__ = ["ZkAuditor"]


def __getattr__(name: str):
    if name == "ZkAuditor":
        from .auditor import ZkAuditor

        return ZkAuditor
    raise AttributeError(name)
