"""The published formats: artifacts, claims, commitment records and proof bundles, checked strictly.

Prover and verifier share these checks, so what one accepts the other reads the same way. Every
check names the input at fault (a dotted path such as ``params.lr``) and says what to do; unknown
keys are errors, never ignored. Problems raise :class:`FormatError`, an ``InvalidInputError``, so
the CLI exits 2 and the gateway answers 400 with the path in ``error.param``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable

from skyplex.encoding import DuplicatedKeyError, loads_unique
from skyplex.errors import InvalidInputError

#: Fixed-point bits of every proven circuit (pinned: lookup tables and range checks are sized for it).
SCALE = 8
#: Features and weights must satisfy |v| < MAX_ABS so their fixed-point values stay inside ezkl's
#: lookup range (+-2^15 at scale 2^8).
MAX_ABS = 128.0
#: Rows of each circuit kind, pinned (not a prover's choice, so the verifier derives them).
LOGROWS = {"training": 15, "training:mlp": 15, "audit:membership": 12, "audit:censorship": 14, "audit:counterfactual": 15}
#: The scheme each claim kind's proof must name.
SCHEMES = {
    "training": "ezkl-halo2-kzg/sgd-chain",
    "audit:membership": "ezkl-halo2-kzg/membership",
    "audit:censorship": "ezkl-halo2-kzg/label-count",
    "audit:counterfactual": "ezkl-halo2-kzg/accuracy",
}
CLAIM_KINDS = tuple(SCHEMES)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
#: a commitment id: the kind's prefix and 32 hex digits of the record's content hash
COMMITMENT_ID = re.compile(r"(ds|w)-[0-9a-f]{32}")


class FormatError(InvalidInputError):
    """An artifact, claim, record or proof bundle does not have the documented shape."""


def _fail(where: str, message: str) -> FormatError:
    return FormatError(f"{where}: {message}", field=where)


def exact_keys(obj: Any, where: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict:
    """``obj`` as a dict with all of ``required`` and nothing else but ``optional`` (both in documented order)."""
    required, optional = list(required), list(optional)
    if not isinstance(obj, dict):
        raise _fail(where, f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise _fail(f"{where}.{missing[0]}" if where else missing[0],
                    f"is required (missing: {', '.join(missing)}; see docs/plugins/zkaudit.md for the format)")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join(required + optional) or "none"
        raise _fail(f"{where}.{unknown[0]}" if where else unknown[0], f"unknown key (allowed: {allowed})")
    return obj


def integer(v: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """A JSON integer (not a bool, not 2.0) in ``[lo, hi]``."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(where, f"expected an integer, got {v!r}")
    if lo is not None and v < lo or hi is not None and v > hi:
        raise _fail(where, f"{v} is outside [{lo}, {hi if hi is not None else '...'}]")
    return v


def number(v: Any, where: str) -> float:
    """A finite JSON number (NaN and infinities are refused: they have no fixed-point value)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(where, f"expected a number, got {v!r}")
    try:  # a JSON integer has no size limit; one past the float range is as unusable as an infinity
        value = float(v)
    except OverflowError:
        raise _fail(where, f"an integer of {len(str(abs(v)))} digits is not a finite number") from None
    if not math.isfinite(value):
        raise _fail(where, f"{v!r} is not a finite number")
    return value


def matrix(v: Any, where: str, max_abs: float = MAX_ABS) -> list[list[float]]:
    """A non-empty rectangular list of lists of finite numbers with ``|v| < max_abs``."""
    if not isinstance(v, list) or not v:
        raise _fail(where, "expected a non-empty list of rows")
    width = None
    out = []
    for i, row in enumerate(v):
        if not isinstance(row, list) or not row:
            raise _fail(f"{where}.{i}", "expected a non-empty list of numbers")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise _fail(f"{where}.{i}", f"has {len(row)} values, row 0 has {width}")
        vals = [number(x, f"{where}.{i}.{j}") for j, x in enumerate(row)]
        for j, x in enumerate(vals):
            # the bound holds for the committed value too: 127.999 rounds to 128.0 on the 2^-8 grid, which
            # the published claim of a proof would then state, and a verifier would refuse
            if abs(x) >= max_abs or abs(fixed_point([x])[0]) >= max_abs:
                raise _fail(f"{where}.{i}.{j}", f"{x} is out of range: values must satisfy |v| < {max_abs:g} "
                                                f"after rounding to multiples of 2^-{SCALE} (fixed point at scale "
                                                f"2^{SCALE}); rescale the data")
        out.append(vals)
    return out


def hex64(v: Any, where: str) -> str:
    """64 lowercase hex digits and nothing else (no trailing newline: one digest, one spelling)."""
    if not isinstance(v, str) or not _HEX64.fullmatch(v):
        raise _fail(where, "expected 64 lowercase hex digits")
    return v


def hexbytes(v: Any, where: str) -> bytes:
    """Bytes as lowercase hex pairs and nothing else (``bytes.fromhex`` alone would skip whitespace)."""
    if not isinstance(v, str) or not _HEX.fullmatch(v):
        raise _fail(where, "expected an even number of lowercase hex digits")
    return bytes.fromhex(v)


# ---- artifacts -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetArtifact:
    x: list[list[float]]
    labels: list[int]
    classes: int
    batch: int


@dataclass(frozen=True)
class WeightsArtifact:
    w: list[list[float]]  # softmax regression [in_dim, classes]; or w1 [in_dim, hidden] of the MLP head
    w2: list[list[float]] | None = None  # the MLP head's [hidden, classes]


def parse_artifact(artifact: Any) -> DatasetArtifact | WeightsArtifact:
    """Check an ``Artifact`` (kind, inline data) and return its typed content."""
    if artifact.uri is not None:
        raise _fail("uri", "zkaudit reads artifacts inline from 'data'; remove 'uri'")
    if artifact.metadata:
        raise _fail("metadata", f"zkaudit artifacts take no metadata (got keys {sorted(artifact.metadata)}); remove it")
    if artifact.kind == "dataset":
        data = exact_keys(artifact.data, "data", ("x", "labels", "classes"), ("batch",))
        x = matrix(data["x"], "data.x")
        classes = integer(data["classes"], "data.classes", 2, 1 << 16)
        if not isinstance(data["labels"], list):
            raise _fail("data.labels", "expected a list of integer labels, one per row of data.x")
        labels = [integer(v, f"data.labels.{i}", 0, classes - 1) for i, v in enumerate(data["labels"])]
        if len(labels) != len(x):
            raise _fail("data.labels", f"has {len(labels)} labels for {len(x)} rows of data.x")
        batch = integer(data.get("batch", 8), "data.batch", 1, 1 << 12)
        if len(x) % batch:
            raise _fail("data.batch", f"{len(x)} examples do not split into batches of {batch}; drop or pad examples")
        return DatasetArtifact(x, labels, classes, batch)
    if artifact.kind == "weights":
        if isinstance(artifact.data, dict) and "w" not in artifact.data and ("w1" in artifact.data or "w2" in artifact.data):
            data = exact_keys(artifact.data, "data", ("w1", "w2"))
            w1, w2 = matrix(data["w1"], "data.w1"), matrix(data["w2"], "data.w2")
            if len(w2) != len(w1[0]):
                raise _fail("data.w2", f"has {len(w2)} rows; the MLP head's w2 is [hidden, classes] with hidden = "
                                       f"{len(w1[0])} (the columns of w1)")
            if len(w2[0]) < 2:
                raise _fail("data.w2", "the MLP head needs at least 2 classes")
            return WeightsArtifact(w1, w2)
        data = exact_keys(artifact.data, "data", ("w",))
        w = matrix(data["w"], "data.w")
        if len(w[0]) < 2:
            raise _fail("data.w", "weights are [in_dim, classes] with at least 2 classes")
        return WeightsArtifact(w)
    raise _fail("kind", f"zkaudit commits to 'dataset' or 'weights' artifacts, not {artifact.kind!r}")


def is_commitment_id(cid: Any) -> bool:
    """Whether ``cid`` is spelled as a commitment id (checked before it is used to look a record up)."""
    return isinstance(cid, str) and COMMITMENT_ID.fullmatch(cid) is not None


def loads_strict(text: str | bytes, where: str) -> Any:
    """JSON with duplicated keys refused (parsers disagree on which one wins, so a document with two
    ``lr`` or two ``claim`` keys could say one thing to a reader and another to the verifier) and
    nesting too deep to parse reported, not raised as ``RecursionError``."""
    try:
        return loads_unique(text)
    except DuplicatedKeyError as exc:
        raise _fail(f"{where}.{exc.key}" if where else exc.key,
                    "duplicated key: each key may appear once in an object") from None
    except RecursionError:
        raise _fail(where or "the top level", "is nested too deeply to be a zkaudit document") from None


# ---- claims --------------------------------------------------------------------------------------
#: commitment kinds each claim names, in order
CLAIM_COMMITMENTS = {
    "training": ("dataset", "weights"),
    "audit:membership": ("dataset",),
    "audit:censorship": ("dataset",),
    "audit:counterfactual": ("dataset", "weights"),
}
CLAIM_PARAMS = {
    "training": ("lr", "steps"),
    "audit:membership": ("x", "label"),
    "audit:censorship": ("label",),
    "audit:counterfactual": (),
}


def fixed_point(values: list[float]) -> list[float]:
    """``values`` rounded to the fixed-point grid the commitments use (multiples of 2^-SCALE, half up)."""
    return [math.floor(v * (1 << SCALE) + 0.5) / (1 << SCALE) for v in values]


def check_claim(claim: Any, *, published: bool = False) -> None:
    """Kind, number of commitments and parameter names and types of a ``Claim`` (not its truth).

    ``published``: the claim of a proof, whose example features must be exactly the committed
    fixed-point values (the prover writes them so), never a nearby number that rounds to them."""
    if claim.kind not in CLAIM_KINDS:
        raise _fail("kind", f"unknown claim kind {claim.kind!r}; zkaudit proves {', '.join(CLAIM_KINDS)}")
    want = CLAIM_COMMITMENTS[claim.kind]
    if len(claim.commitments) != len(want):
        raise _fail("commitments", f"a claim of kind {claim.kind!r} names {len(want)} commitment(s), "
                                   f"the {' and '.join(want)} ids in that order, got {len(claim.commitments)}")
    for i, cid in enumerate(claim.commitments):
        if not is_commitment_id(cid):
            raise _fail(f"commitments.{i}", f"{cid!r} is not a zkaudit commitment id (ds-<32 hex> or w-<32 hex>)")
    p = exact_keys(claim.params, "params", CLAIM_PARAMS[claim.kind])
    if claim.kind == "training":
        if number(p["lr"], "params.lr") <= 0:
            raise _fail("params.lr", "the learning rate must be positive")
        integer(p["steps"], "params.steps", 1, 1 << 20)
    elif claim.kind == "audit:membership":
        if not isinstance(p["x"], list):
            raise _fail("params.x", "expected the example's features as a list of numbers")
        matrix([p["x"]], "params.x")
        if published:
            for i, v in enumerate(p["x"]):
                if v != fixed_point([v])[0]:
                    raise _fail(f"params.x.{i}", f"{v!r} is not a multiple of 2^-{SCALE}: a proof states the committed "
                                                 "(quantised) example exactly")
        integer(p["label"], "params.label", 0)
    elif claim.kind == "audit:censorship":
        integer(p["label"], "params.label", 0)


#: bound on the update multiplier (far past any useful rate; it keeps the products in the circuit's range)
MAX_LR_Q = 1 << 20


def lr_q(lr: float, batch: int, scale: int = SCALE) -> int:
    """The step circuit's update multiplier ``lr / batch * 2^scale``, which must be a positive integer:
    a claimed learning rate is proven exactly, never rounded to a neighbouring one."""
    q = Fraction(lr) / batch * (1 << scale)  # exact: no float rounding, no overflow for huge rates
    if q >= MAX_LR_Q:
        raise _fail("params.lr", f"learning rate {lr} is too large: lr * 2^{scale} / batch must be below {MAX_LR_Q}")
    if q.denominator != 1 or q < 1:
        near = max(1, round(q)) * batch / (1 << scale)
        raise _fail("params.lr", f"learning rate {lr} is not provable exactly with batch {batch} at scale 2^{scale} "
                                 f"(lr * 2^{scale} / batch must be a positive integer); the nearest provable is {near:g}")
    return int(q)


# ---- records -------------------------------------------------------------------------------------
RECORD_KEYS = ("id", "kind", "scheme", "digest", "metadata")
RECORD_METADATA = {"dataset": ("examples", "in_dim", "classes", "batch", "scale", "batch_digests"),
                   "weights": ("shape", "hidden", "scale", "sha256_salted")}
RECORD_SCHEMES = {"dataset": "poseidon-batches-salted", "weights": "poseidon-salted"}
ID_PREFIX = {"dataset": "ds", "weights": "w"}


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def record_id(kind: str, rec: dict) -> str:
    """A record's id is a hash of its content, so an id in a claim pins every field of the record."""
    body = {k: v for k, v in rec.items() if k != "id"}
    return f"{ID_PREFIX[kind]}-{hashlib.sha256(b'zkaudit-record-v1' + canonical_json(body)).hexdigest()[:32]}"


def check_record(rec: Any, cid: str, kind: str) -> dict:
    """A public commitment record: exact keys, its id equal to ``cid`` and to the hash of its content."""
    where = f"record {cid}"
    rec = exact_keys(rec, where, RECORD_KEYS)
    if rec["kind"] != kind:
        raise _fail(f"{where}.kind", f"is a {rec['kind']!r} commitment, expected {kind!r}")
    if rec["id"] != cid or record_id(kind, rec) != cid:
        raise _fail(f"{where}.id", "the record's content does not hash to its id (edited after commitment?)")
    if rec["scheme"] != RECORD_SCHEMES[kind]:
        raise _fail(f"{where}.scheme", f"expected {RECORD_SCHEMES[kind]!r}")
    hex64(rec["digest"], f"{where}.digest")
    m = exact_keys(rec["metadata"], f"{where}.metadata", RECORD_METADATA[kind])
    integer(m["scale"], f"{where}.metadata.scale", SCALE, SCALE)  # pinned; an integer, not 8.0
    if kind == "dataset":
        b = integer(m["batch"], f"{where}.metadata.batch", 1)
        integer(m["in_dim"], f"{where}.metadata.in_dim", 1)
        integer(m["classes"], f"{where}.metadata.classes", 2)
        if not isinstance(m["batch_digests"], list) or not m["batch_digests"]:
            raise _fail(f"{where}.metadata.batch_digests", "expected a non-empty list")
        for i, h in enumerate(m["batch_digests"]):
            hex64(h, f"{where}.metadata.batch_digests.{i}")
        if integer(m["examples"], f"{where}.metadata.examples", 1) != b * len(m["batch_digests"]):
            raise _fail(f"{where}.metadata.examples", "is not batch x number of batch digests")
        from .commitments import dataset_root

        if rec["digest"] != dataset_root(m["batch_digests"]):
            raise _fail(f"{where}.digest", "is not the SHA-256 of the batch digests")
    else:
        shape = m["shape"]
        if not (isinstance(shape, list) and len(shape) == 2):
            raise _fail(f"{where}.metadata.shape", "expected [in_dim, classes]")
        integer(shape[0], f"{where}.metadata.shape.0", 1)
        integer(shape[1], f"{where}.metadata.shape.1", 2)
        integer(m["hidden"], f"{where}.metadata.hidden", 0)
        hex64(m["sha256_salted"], f"{where}.metadata.sha256_salted")
    return rec
