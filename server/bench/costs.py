"""What a million output tokens cost: the hosted API at its list prices, this box at its hourly cost.

Hosted: the run's own mix, (input - cached) * input price + cached * cached price + output * output price,
per million output tokens, so a prompt-heavy agent workload shows its real price. Local: --gpu-hour-cost
divided by the output tokens an hour at the measured throughput (the box costs the same busy or idle, so
the figure holds at that load only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from .targets import BenchError

# configs/bench/pricing.yaml, shipped in the package with the presets (server/presets links to configs/).
PRICING: Traversable = files("server") / "presets" / "bench" / "pricing.yaml"


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cached_input: float


@dataclass(frozen=True, slots=True)
class Pricing:
    currency: str
    models: Mapping[str, Price]

    def hosted(self, model: str, figures: Mapping[str, Any], cached: int) -> float | None:
        """Per million output tokens at the phase's mix of input, cached input and output."""
        price = self.models.get(model.lower())
        output = figures["total_output_tokens"]
        if price is None or not output:
            return None
        fresh = figures["total_input_tokens"] - cached
        spent = fresh * price.input + cached * price.cached_input + output * price.output
        return float(spent) / float(output)


def local(gpu_hour_cost: float | None, figures: Mapping[str, Any]) -> float | None:
    rate = float(figures["output_throughput"])
    if gpu_hour_cost is None or not rate or math.isnan(rate):  # no cost given, or nothing measured
        return None
    return gpu_hour_cost / (rate * 3600) * 1e6


def load(path: Path | None = None) -> Pricing:
    source: Path | Traversable = path or PRICING
    try:
        data = yaml.safe_load(source.read_text())
        models = {
            str(name).lower(): Price(
                float(p["input"]), float(p["output"]), float(p.get("cached_input", p["input"]))
            )
            for name, p in data["models"].items()
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BenchError(f"cannot read the pricing table {path}: {exc}") from exc
    return Pricing(str(data.get("currency", "USD")), models)
