"""Circuits identified by content, resolved only in the verifier's own key store.

A circuit's id is a SHA-256 over its ``settings.json``, compiled circuit and verifying key. A proof
names that id; the verifier never follows a path from the proof: it derives the circuit's spec from
the claim and the public records, looks the spec up in its key store (``<keys>/<spec key>/``), checks
that the files there hash to the id the proof names, and checks the settings against settings it
regenerates itself from the spec (so scale, logrows, visibility and every other soundness-relevant
setting are pinned by the code, not by a file). The verifying key is trusted from the key store:
whoever runs the verifier made it (or fetched it from a source they trust) with ``ezkl.setup`` on the
same compiled circuit and SRS.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Callable

from .prover import CircuitFiles, Prover

_ID_TAG = b"zkaudit-circuit-v1"
_FILES = ("settings.json", "model.compiled", "vk")

#: settings already checked against a regenerated copy in this process: {(spec key, settings sha256)}
_PINNED: set[tuple[str, str]] = set()


class KeyStoreError(Exception):
    """The key store lacks a circuit, or its files are not the circuit the claim needs."""


def circuit_id(directory: Path) -> str:
    """SHA-256 over (settings.json, model.compiled, vk), each length-prefixed, of a circuit directory."""
    h = hashlib.sha256(_ID_TAG)
    for name in _FILES:
        data = (Path(directory) / name).read_bytes()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def canonical_settings(settings: dict) -> dict:
    """ezkl settings without the fields that vary between identical builds (timestamp; the order of
    lists it fills from hash maps)."""

    def canon(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: canon(x) for k, x in sorted(v.items())}
        if isinstance(v, list):
            return sorted((canon(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
        return v

    return canon({k: v for k, v in settings.items() if k != "timestamp"})


def regenerated_settings(spec: Any, build: Callable[[Any], bytes]) -> dict:
    """The settings ezkl produces for ``spec`` here and now (no keys, no SRS: well under a second)."""
    with tempfile.TemporaryDirectory(prefix="zkaudit-pin-") as tmp:
        files = Prover(Path(tmp), srs_path=Path(tmp) / "unused.srs").files(spec, build, keys=False, need_srs=False)
        return json.loads(files.settings.read_text())


def resolve(spec: Any, build: Callable[[Any], bytes], keys_root: Path, expected_id: str) -> CircuitFiles:
    """The key-store files of ``spec``, checked: they hash to ``expected_id`` and their settings equal
    freshly regenerated ones. Raises :class:`KeyStoreError` saying which check failed."""
    directory = Path(keys_root) / spec.key()
    missing = [n for n in _FILES if not (directory / n).is_file()]
    if missing:
        raise KeyStoreError(f"the key store {keys_root} has no {', '.join(missing)} for circuit {spec.key()}; "
                            "run the prover's setup for this shape (or copy that circuit's folder from a source you trust)")
    actual = circuit_id(directory)
    if actual != expected_id:
        raise KeyStoreError(f"circuit {spec.key()} in the key store has id {actual[:16]}..., the proof names "
                            f"{str(expected_id)[:16]}...: a different circuit or verifying key")
    settings_bytes = (directory / "settings.json").read_bytes()
    pin = (spec.key(), hashlib.sha256(settings_bytes).hexdigest())
    if pin not in _PINNED:
        try:
            theirs = canonical_settings(json.loads(settings_bytes))
        except ValueError as exc:
            raise KeyStoreError(f"settings.json of circuit {spec.key()} is not JSON ({exc})") from None
        if theirs != canonical_settings(regenerated_settings(spec, build)):
            raise KeyStoreError(f"settings.json of circuit {spec.key()} differs from the pinned settings of that "
                                "circuit (scale, logrows, visibility or another field was changed)")
        _PINNED.add(pin)
    return CircuitFiles(directory, Path())
