"""Request streams for the simulator: per-LLM arrival times and prompt/output lengths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skyplex.errors import InvalidInputError


@dataclass
class Stream:
    """One LLM's requests, sorted by arrival: times (s), prompt and output lengths (tokens)."""

    arrivals: np.ndarray  # when the engine may start on each request
    prompts: np.ndarray
    outputs: np.ndarray
    origin: np.ndarray | None = None  # when each request really arrived (if it had to wait for its model)

    def __len__(self) -> int:
        return len(self.arrivals)


def gamma_gaps(rng: np.random.Generator, rate: float, cv: float, n: int) -> np.ndarray:
    """``n`` inter-arrival gaps with mean 1/rate and coefficient of variation ``cv`` (cv=1: Poisson)."""
    if rate <= 0:
        raise InvalidInputError(f"arrival rate must be > 0, got {rate}", field="rate")
    if cv <= 0:
        raise InvalidInputError(f"arrival CV must be > 0, got {cv}", field="cv")
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / (rate * shape), size=n)


def lengths(rng: np.random.Generator, mean: float, n: int, cv: float, lo: int, hi: int) -> np.ndarray:
    """Token lengths with the given mean and CV (gamma), clipped to [lo, hi] and re-centred on the mean."""
    shape = 1.0 / (cv * cv)
    raw = rng.gamma(shape, mean / shape, size=n)
    out = np.clip(raw, lo, hi)
    if out.mean() > 0:  # clipping moves the mean; scale back once, then clip again
        out = np.clip(out * (mean / out.mean()), lo, hi)
    return np.maximum(np.rint(out), lo).astype(np.int64)


def make_stream(rng: np.random.Generator, rate: float, n: int, prompt_mean: float, output_mean: float,
                arrival_cv: float = 1.0, length_cv: float = 1.0, max_len: int = 2048,
                rates: list[tuple[float, float]] | None = None) -> Stream:
    """``n`` requests at ``rate`` per second (or piecewise ``rates``: [(until_s, rate), ...])."""
    if n < 0:
        raise InvalidInputError(f"request count must be >= 0, got {n}", field="n")
    if rates:
        times, t, seg = [], 0.0, 0
        while len(times) < n:
            until, r = rates[min(seg, len(rates) - 1)]
            t += float(gamma_gaps(rng, r, arrival_cv, 1)[0])
            if t > until and seg < len(rates) - 1:
                t, seg = until, seg + 1
                continue
            times.append(t)
        arrivals = np.array(times)
    else:
        arrivals = np.cumsum(gamma_gaps(rng, rate, arrival_cv, n)) if n else np.zeros(0)
    prompts = lengths(rng, prompt_mean, n, length_cv, 1, max_len // 2)
    outputs = lengths(rng, output_mean, n, length_cv, 1, max_len // 2)
    return Stream(arrivals, prompts, outputs)
