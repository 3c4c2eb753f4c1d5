"""Measured prefill/decode latencies, read from MuxServe's profile JSON and interpolated.

The file nests ``model -> GPUs -> SM% -> batch -> seq_len -> {prefill, decoding}`` in milliseconds,
with ``-1`` where the measurement is missing (usually out of memory). Here every (model, GPUs) pair
becomes a dense grid sorted by value (never by JSON key order) and queries interpolate linearly in
SM share, batch size and length, extrapolating linearly past the measured range. Missing entries
are filled by linear extrapolation along the batch axis and remembered: a query that touches one is
*flagged* (``gaps_touched``) or, with ``strict=True``, refused with an error naming the entry.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError

from .catalogue import model_key


class ProfileGapError(InvalidInputError):
    """A query needed a profile entry that was not measured (``-1`` in the file)."""


@dataclass
class Grid:
    """Dense latency grid of one (model, GPUs) pair, in seconds; axes sorted ascending."""

    model: str
    ngpus: int
    sms: np.ndarray
    batches: np.ndarray
    lengths: np.ndarray
    prefill: np.ndarray  # [sm, batch, length]
    decode: np.ndarray
    prefill_gap: np.ndarray  # True where the value was filled in, not measured
    decode_gap: np.ndarray

    @property
    def max_batch(self) -> int:
        return int(self.batches[-1])


def _bracket(axis: np.ndarray, x: float) -> tuple[int, int, float]:
    """Indices (i, j) of the two grid points used for ``x`` and the weight of ``j`` (may exceed [0,1])."""
    n = len(axis)
    if n == 1:
        return 0, 0, 0.0
    k = int(np.searchsorted(axis, x))
    i = min(max(k - 1, 0), n - 2)
    j = i + 1
    return i, j, float((x - axis[i]) / (axis[j] - axis[i]))


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Fill NaNs along the batch axis (axis 1) by linear extrapolation from the nearest measured ones."""
    out = values.copy()
    ns, nb, nl = out.shape
    for s in range(ns):
        for li in range(nl):
            col = out[s, :, li]
            ok = np.flatnonzero(~np.isnan(col))
            if len(ok) == 0:
                # nothing measured at this length: borrow the neighbouring length's column, scaled
                continue
            for b in np.flatnonzero(np.isnan(col)):
                lower = ok[ok < b]
                if len(lower) >= 2:
                    i, j = lower[-2], lower[-1]
                    slope = (col[j] - col[i]) / (j - i)
                    col[b] = col[j] + slope * (b - j) if slope > 0 else col[j] * 2.0 ** (b - j)
                elif len(lower) == 1:
                    col[b] = col[lower[-1]] * 2.0 ** (b - lower[-1])  # batches double per step
                else:
                    col[b] = col[ok[0]]
    # any column with no measurement at all: copy the nearest length, scaled by length ratio
    for s in range(ns):
        for li in range(nl):
            if np.isnan(out[s, :, li]).all():
                good = [k for k in range(nl) if not np.isnan(out[s, :, k]).all()]
                if good:
                    k = min(good, key=lambda g: abs(g - li))
                    out[s, :, li] = out[s, :, k]
    # an SM share with nothing measured: copy the nearest share
    for s in range(ns):
        if np.isnan(out[s]).any():
            good = [k for k in range(ns) if not np.isnan(out[k]).any()]
            if good:
                out[s] = out[min(good, key=lambda g: abs(g - s))]
    return out


class LatencyProfile:
    """All grids of a profile file, with interpolated and (for fidelity) step-wise lookups."""

    def __init__(self, raw: dict[str, Any], *, strict: bool = False, source: str = "profile") -> None:
        if not isinstance(raw, dict) or not raw:
            raise InvalidInputError(f"{source}: expected a non-empty JSON object model -> GPUs -> SM% -> ...", field=source)
        self.raw = raw
        self.strict = strict
        self.source = source
        self.gaps_touched: set[tuple] = set()
        self.grids: dict[tuple[str, int], Grid] = {}
        for model, by_gpu in raw.items():
            for ngpus, by_sm in _obj(by_gpu, f"{source}[{model}]").items():
                self.grids[(model_key(model), _int(ngpus, f"{source}[{model}]"))] = self._grid(model, ngpus, by_sm)

    @classmethod
    def load(cls, path: str | Path, *, strict: bool = False) -> LatencyProfile:
        """Read a profile JSON file; a clear error for a missing or malformed file."""
        p = Path(path)
        try:
            raw = json.loads(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_text())
        except FileNotFoundError:
            raise InvalidInputError(f"profile file {str(p)!r} does not exist", field="profile") from None
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
            raise InvalidInputError(f"profile file {str(p)!r} is not valid JSON: {exc}", field="profile") from None
        return cls(raw, strict=strict, source=str(p))

    def _grid(self, model: str, ngpus: str, by_sm: Any) -> Grid:
        where = f"{self.source}[{model}][{ngpus}]"
        by_sm = _obj(by_sm, where)
        sms = sorted(_int(s, where) for s in by_sm)
        batches = sorted({_int(b, where) for s in by_sm.values() for b in _obj(s, where)})
        lengths = sorted({_int(x, where) for s in by_sm.values() for b in s.values() for x in _obj(b, where)})
        shape = (len(sms), len(batches), len(lengths))
        pre, dec = np.full(shape, np.nan), np.full(shape, np.nan)
        for s_key, by_b in by_sm.items():
            si = sms.index(int(s_key))
            for b_key, by_len in by_b.items():
                bi = batches.index(int(b_key))
                for l_key, cell in by_len.items():
                    li = lengths.index(int(l_key))
                    if not isinstance(cell, dict) or "prefill" not in cell or "decoding" not in cell:
                        raise InvalidInputError(f"{where}[{s_key}][{b_key}][{l_key}]: expected {{prefill, decoding}}", field="profile")
                    p, d = float(cell["prefill"]), float(cell["decoding"])
                    pre[si, bi, li] = p / 1000.0 if p > 0 else np.nan
                    dec[si, bi, li] = d / 1000.0 if d > 0 else np.nan
        pgap, dgap = np.isnan(pre), np.isnan(dec)
        return Grid(model_key(model), _int(ngpus, where), np.array(sms, float), np.array(batches, float), np.array(lengths, float),
                    _fill_gaps(pre), _fill_gaps(dec), pgap, dgap)

    # ---------------------------------------------------------------------------------------
    def has(self, model: str, ngpus: int) -> bool:
        return (model_key(model), int(ngpus)) in self.grids

    def grid(self, model: str, ngpus: int) -> Grid:
        """The grid of ``model`` on ``ngpus`` GPUs; an error naming the pair when it was not profiled."""
        key = (model_key(model), int(ngpus))
        if key not in self.grids:
            have = sorted(g for m, g in self.grids if m == key[0])
            hint = f"profiled GPU counts for it: {have}" if have else "the model is not in the profile at all"
            raise InvalidInputError(f"no latency profile for {key[0]} on {ngpus} GPU(s) ({hint})", field="profile")
        return self.grids[key]

    def mesh_sizes(self, model: str) -> list[int]:
        return sorted(g for m, g in self.grids if m == model_key(model))

    def _lookup(self, grid: Grid, which: str, sm: float, batch: float, length: float) -> float:
        values = grid.prefill if which == "prefill" else grid.decode
        gaps = grid.prefill_gap if which == "prefill" else grid.decode_gap
        sm = float(np.clip(sm, grid.sms[0], grid.sms[-1]))
        si, sj, sw = _bracket(grid.sms, sm)
        bi, bj, bw = _bracket(grid.batches, max(batch, 1.0))
        li, lj, lw = _bracket(grid.lengths, max(length, 1.0))
        total = 0.0
        for s, ws in ((si, 1 - sw), (sj, sw)):
            if ws == 0.0 and si != sj:
                continue
            for b, wb in ((bi, 1 - bw), (bj, bw)):
                if wb == 0.0 and bi != bj:
                    continue
                for x, wl in ((li, 1 - lw), (lj, lw)):
                    if wl == 0.0 and li != lj:
                        continue
                    if gaps[s, b, x]:
                        entry = (grid.model, grid.ngpus, int(grid.sms[s]), int(grid.batches[b]), int(grid.lengths[x]), which)
                        if self.strict:
                            raise ProfileGapError(
                                f"profile entry {grid.model} GPUs={entry[1]} SM={entry[2]}% batch={entry[3]} "
                                f"len={entry[4]} {which} is missing (-1 in {self.source}); measure it or allow flagged extrapolation",
                                field="profile",
                            )
                        self.gaps_touched.add(entry)
                    total += ws * wb * wl * values[s, b, x]
        return max(total, 1e-6)

    def prefill_s(self, model: str, ngpus: int, sm: float, batch: float, length: float) -> float:
        """Seconds to prefill ``batch`` prompts of ``length`` tokens at ``sm`` percent of the SMs."""
        return self._lookup(self.grid(model, ngpus), "prefill", sm, batch, length)

    def decode_s(self, model: str, ngpus: int, sm: float, batch: float, length: float) -> float:
        """Seconds for one decode step of ``batch`` sequences with ``length`` tokens of context."""
        return self._lookup(self.grid(model, ngpus), "decode", sm, batch, length)

    def table(self, model: str, ngpus: int, which: str, sm: float, batches: np.ndarray,
              lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latencies on a dense ``[batch, length]`` grid and a mask of cells that rest on missing entries.

        The same multilinear interpolation as the point lookups, done axis by axis with numpy.
        """
        grid = self.grid(model, ngpus)
        values = grid.prefill if which == "prefill" else grid.decode
        gaps = (grid.prefill_gap if which == "prefill" else grid.decode_gap).astype(float)
        sm = float(np.clip(sm, grid.sms[0], grid.sms[-1]))
        v, g = _interp_axis(values, gaps, grid.sms, np.array([sm]), 0)
        v, g = _interp_axis(v[0], g[0], grid.batches, np.maximum(np.asarray(batches, float), 1.0), 0)
        v, g = _interp_axis(v, g, grid.lengths, np.maximum(np.asarray(lengths, float), 1.0), 1)
        return np.maximum(v, 1e-6), g > 0

    def decode_table(self, model: str, ngpus: int, sm: float, max_batch: int, max_len: int,
                     step: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Decode latencies ``[batch, ctx // step]`` for batch 0..max_batch (row 0 copies row 1)."""
        b = np.arange(0, max_batch + 1, dtype=float)
        lens = np.arange(0, max_len + step, step, dtype=float)
        return self.table(model, ngpus, "decode", sm, b, lens)

    def note_gaps(self, model: str, ngpus: int, which: str, what: str) -> None:
        """Record (or, when strict, refuse) the use of a value interpolated from missing entries."""
        entry = (model_key(model), int(ngpus), which, what)
        if self.strict:
            raise ProfileGapError(f"{which} latency of {entry[0]} on {ngpus} GPU(s) at {what} rests on profile entries "
                                  f"that are missing (-1 in {self.source}); measure them or allow flagged extrapolation",
                                  field="profile")
        self.gaps_touched.add(entry)


def _interp_axis(values: np.ndarray, gaps: np.ndarray, xp: np.ndarray, x: np.ndarray, axis: int):
    """Linear interpolation (and extrapolation) of ``values`` along ``axis`` at points ``x``."""
    if len(xp) == 1:
        idx = np.zeros(len(x), dtype=int)
        return np.take(values, idx, axis=axis), np.take(gaps, idx, axis=axis)
    i = np.clip(np.searchsorted(xp, x) - 1, 0, len(xp) - 2)
    w = (x - xp[i]) / (xp[i + 1] - xp[i])
    shape = [1] * values.ndim
    shape[axis] = len(x)
    w = w.reshape(shape)
    a, b = np.take(values, i, axis=axis), np.take(values, i + 1, axis=axis)
    ga, gb = np.take(gaps, i, axis=axis), np.take(gaps, i + 1, axis=axis)
    return a * (1 - w) + b * w, ga * (w < 1) + gb * (w > 0)


@dataclass
class FidelityCosts:
    """The authors' step-wise cost lists for one (model, GPUs, SM%): profiled batches and latencies."""

    batches: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def fidelity_costs(profile: LatencyProfile, model: str, ngpus: int, sm: int, prefill: bool, avg_len: int) -> FidelityCosts:
    """Reproduce the authors' cost lists, including their dependence on JSON key order.

    Lengths are walked in the file's key order, stopping after the first one above ``avg_len``;
    prefill takes the last latency seen, decode the mean of running means (their bookkeeping).
    """
    key = model_key(model)
    raw = next((v for k, v in profile.raw.items() if model_key(k) == key), None)
    if raw is None or str(ngpus) not in raw or str(sm) not in raw[str(ngpus)]:
        raise InvalidInputError(f"no profile for {key} GPUs={ngpus} SM={sm}%", field="profile")
    out = FidelityCosts()
    for b_key, by_len in raw[str(ngpus)][str(sm)].items():
        seen, running = [], []
        for l_key, cell in by_len.items():
            p, d = float(cell["prefill"]), float(cell["decoding"])
            if p < 0 and d < 0:
                continue
            if d > 0:
                running.append(d)  # their running mean advances on every measured decode
            if prefill and p > 0:
                seen.append(p / 1000.0)
            elif not prefill and d > 0:
                seen.append(float(np.mean(running)) / 1000.0)
            else:
                continue  # the stopping test only runs after a latency was taken
            if int(l_key) > avg_len:
                break
        if seen:
            out.batches.append(int(b_key))
            out.latencies.append(seen[-1] if prefill else float(np.mean(seen)))
    return out


def _obj(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(value).__name__}", field="profile")
    return value


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: key {value!r} is not an integer", field="profile") from None
