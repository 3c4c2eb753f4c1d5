"""Pure-Python big-integer reference of the fixed-point SGD witness (the specification).

Every number is an integer at scale ``SF = 2**frac_bits`` (the paper uses 17). One SGD step of
softmax regression (``hidden == 0``) or of a one-hidden-layer ReLU MLP head (``hidden > 0``) is:

- matmul, then a *rounded* rescale ``q = rdiv(a, b)`` witnessed by a remainder ``r`` with
  ``2a + b = 2bq + r`` and ``0 <= r < 2b`` (round half up);
- softmax: row max ``m``, ``e = EXP[m - z]`` from a public table (``EXP[k] = round(exp(-k/SF) * SF)``,
  zero past its end), ``s = sum(e)``, ``p = rdiv(e * SF, s)``;
- fused softmax + cross-entropy backward ``p - y`` (``y`` one-hot at scale SF);
- gradients ``g = rdiv(X^T (p - y), SF)`` and update ``w' = rdiv(w * SF - g * lr_q, SF)`` with a tight
  remainder ``0 <= r < 2 SF`` (so ``w'`` is pinned exactly, unlike a too-wide range table).

Python's ints are unbounded, so this module computes the exact values and then applies the same
magnitude contract as the C++/CUDA kernels (every stored value below ``VALUE_BOUND``): a kernel that
overflowed would disagree with this reference in the bit-identity tests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal, localcontext

#: Every input and stored trace value must satisfy ``|v| < VALUE_BOUND`` (2**52). Products of two
#: such values are below 2**104 and sums of up to 2**20 of them below 2**124, so the kernels' 128-bit
#: accumulators cannot overflow; 2**52 also keeps every value exact in float64 (JSON, NumPy).
VALUE_BOUND = 1 << 52
#: Largest dimension (batch, in_dim, hidden, classes) the 128-bit accumulators are proven safe for.
MAX_DIM = 1 << 20
#: Largest scale whose exp table is practical (2^20: about 15 M entries).
MAX_TABLE_FRAC_BITS = 20

SOFTMAX_FIELDS = ("z", "z_rem", "zmax", "e", "esum", "p", "p_rem", "g", "g_rem", "w_new", "w_rem")
MLP_FIELDS = ("a", "a_rem", "h", "z", "z_rem", "zmax", "e", "esum", "p", "p_rem", "g2", "g2_rem",
              "dh", "dh_rem", "g1", "g1_rem", "w1_new", "w1_rem", "w2_new", "w2_rem")


class WitnessOverflowError(OverflowError):
    """A trace value left the documented range (|v| < 2**52); inputs or learning rate are too large."""


@dataclass(frozen=True)
class SgdShape:
    """Sizes of one training run: ``steps`` SGD steps over batches of ``batch`` examples."""

    steps: int
    batch: int
    in_dim: int
    classes: int
    hidden: int = 0
    frac_bits: int = 17

    @property
    def scale(self) -> int:
        return 1 << self.frac_bits


def rdiv(a: int, b: int) -> tuple[int, int]:
    """Rounded division of ``a`` by ``b > 0``: ``(q, r)`` with ``2a + b = 2bq + r``, ``0 <= r < 2b``."""
    num = 2 * a + b
    q = num // (2 * b)  # floor division: correct for negative numerators too
    return q, num - 2 * b * q


@functools.lru_cache(maxsize=8)
def exp_table(frac_bits: int) -> tuple[int, ...]:
    """The public exp lookup table: ``EXP[k] = round(exp(-k / SF) * SF)`` until it reaches zero.

    Computed with integers only (a 100-bit fixed-point power series of exp(-1/SF), started from a
    correctly rounded Decimal constant) so that every machine builds the identical table.
    """
    if not 1 <= frac_bits <= MAX_TABLE_FRAC_BITS:
        raise ValueError(f"frac_bits must be in [1, {MAX_TABLE_FRAC_BITS}] (the exp table has about SF*ln(2SF) "
                         f"entries: {(1 << frac_bits) * (frac_bits + 1) * 0.69:.3g} for frac_bits={frac_bits})")
    sf = 1 << frac_bits
    prec = frac_bits + 100
    with localcontext() as ctx:
        ctx.prec = 80
        step = int((Decimal(-1) / Decimal(sf)).exp() * (Decimal(2) ** prec) + Decimal("0.5"))
    one_half = 1 << (prec - 1)
    v = 1 << prec
    out = []
    while True:
        e = (v * sf + one_half) >> prec
        if e == 0:
            break
        out.append(e)
        v = (v * step + one_half) >> prec
    return tuple(out)


def _check(name: str, value: int) -> int:
    if not -VALUE_BOUND < value < VALUE_BOUND:
        raise WitnessOverflowError(f"trace value {name}={value} is outside |v| < 2**52; use smaller inputs or learning rate")
    return value


def _matmul_rescale(a, b, sf, name):
    """Rounded ``rdiv(a @ b, sf)`` of nested lists, with remainders."""
    n, k, m = len(a), len(b), len(b[0])
    q = [[0] * m for _ in range(n)]
    r = [[0] * m for _ in range(n)]
    for i in range(n):
        ai = a[i]
        for j in range(m):
            acc = sum(ai[t] * b[t][j] for t in range(k))
            q[i][j], r[i][j] = rdiv(acc, sf)
            _check(name, q[i][j])
    return q, r


def _transpose(a):
    return [list(col) for col in zip(*a)]


def _softmax(z, sf, table):
    zmax, e, esum, p, p_rem = [], [], [], [], []
    for row in z:
        m = max(row)
        er = [table[m - v] if m - v < len(table) else 0 for v in row]
        s = sum(er)
        pr = [rdiv(v * sf, s) for v in er]
        zmax.append(m)
        e.append(er)
        esum.append(s)
        p.append([q for q, _ in pr])
        p_rem.append([r for _, r in pr])
    return zmax, e, esum, p, p_rem


def _update(w, g, lr_q, sf, name):
    new = [[0] * len(w[0]) for _ in w]
    rem = [[0] * len(w[0]) for _ in w]
    for i, (wr, gr) in enumerate(zip(w, g)):
        for j, (wv, gv) in enumerate(zip(wr, gr)):
            new[i][j], rem[i][j] = rdiv(wv * sf - gv * lr_q, sf)
            _check(name, new[i][j])
    return new, rem


def sgd_step(x, y, params, lr_q: int, frac_bits: int) -> dict[str, list]:
    """One exact step. ``params`` is ``[w]`` (softmax regression) or ``[w1, w2]`` (MLP head)."""
    sf = 1 << frac_bits
    table = exp_table(frac_bits)
    if len(params) == 1:
        (w,) = params
        z, z_rem = _matmul_rescale(x, w, sf, "z")
        zmax, e, esum, p, p_rem = _softmax(z, sf, table)
        gz = [[pv - yv for pv, yv in zip(pr, yr)] for pr, yr in zip(p, y)]
        g, g_rem = _matmul_rescale(_transpose(x), gz, sf, "g")
        w_new, w_rem = _update(w, g, lr_q, sf, "w_new")
        return dict(z=z, z_rem=z_rem, zmax=zmax, e=e, esum=esum, p=p, p_rem=p_rem, g=g, g_rem=g_rem,
                    w_new=w_new, w_rem=w_rem)
    w1, w2 = params
    a, a_rem = _matmul_rescale(x, w1, sf, "a")
    h = [[max(v, 0) for v in row] for row in a]
    z, z_rem = _matmul_rescale(h, w2, sf, "z")
    zmax, e, esum, p, p_rem = _softmax(z, sf, table)
    gz = [[pv - yv for pv, yv in zip(pr, yr)] for pr, yr in zip(p, y)]
    g2, g2_rem = _matmul_rescale(_transpose(h), gz, sf, "g2")
    dh, dh_rem = _matmul_rescale(gz, _transpose(w2), sf, "dh")
    da = [[dv if av > 0 else 0 for dv, av in zip(dr, ar)] for dr, ar in zip(dh, a)]
    g1, g1_rem = _matmul_rescale(_transpose(x), da, sf, "g1")
    w1_new, w1_rem = _update(w1, g1, lr_q, sf, "w1_new")
    w2_new, w2_rem = _update(w2, g2, lr_q, sf, "w2_new")
    return dict(a=a, a_rem=a_rem, h=h, z=z, z_rem=z_rem, zmax=zmax, e=e, esum=esum, p=p, p_rem=p_rem,
                g2=g2, g2_rem=g2_rem, dh=dh, dh_rem=dh_rem, g1=g1, g1_rem=g1_rem,
                w1_new=w1_new, w1_rem=w1_rem, w2_new=w2_new, w2_rem=w2_rem)


def sgd_trace(xs, ys, params, lr_q: int, frac_bits: int) -> dict[str, list]:
    """Exact trace of ``len(xs)`` chained steps: step t+1 starts from step t's new weights.

    ``xs[t]`` is the batch (``[batch][in_dim]``), ``ys[t]`` its one-hot labels at scale SF,
    ``params`` the initial weights. Returns each field as a list over steps.
    """
    for name, mat in zip(("w", "w2"), params):
        for row in mat:
            for v in row:
                _check(name, v)
    out: dict[str, list] = {}
    cur = [list(map(list, p)) for p in params]
    for x, y in zip(xs, ys):
        step = sgd_step(x, y, cur, lr_q, frac_bits)
        for k, v in step.items():
            out.setdefault(k, []).append(v)
        cur = [step["w_new"]] if len(cur) == 1 else [step["w1_new"], step["w2_new"]]
    return out
