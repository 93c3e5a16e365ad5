"""Latency: how long the stand-in waits before its first chunk and between chunks, drawn at random.

Each wait is drawn from a log-normal distribution with the given mean and a spread (standard deviation
as a share of the mean): never negative, with the long tail real servers have. Zero means no wait.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Latency:
    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    spread: float = 0.3  # standard deviation / mean
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if min(self.ttft_ms, self.itl_ms, self.spread) < 0:
            raise ValueError("latencies and their spread cannot be negative")
        if self.seed is not None:
            self._rng.seed(self.seed)

    def first(self) -> float:
        """Seconds before the first chunk."""
        return self._draw(self.ttft_ms)

    def gap(self) -> float:
        """Seconds before each further chunk."""
        return self._draw(self.itl_ms)

    def _draw(self, mean_ms: float) -> float:
        if mean_ms <= 0:
            return 0.0
        if self.spread == 0:
            return mean_ms / 1000
        sigma = math.sqrt(math.log(1 + self.spread**2))
        return self._rng.lognormvariate(math.log(mean_ms) - sigma**2 / 2, sigma) / 1000
