"""Gpus: the GPUs a plan is for, as written ("2x24GB") or as torch finds them."""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1 << 30
_SPEC = re.compile(r"^\s*(?:(\d+)\s*[x*]\s*)?(\d+(?:\.\d+)?)\s*(?:GB|GiB|G)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Gpus:
    count: int
    memory: int  # bytes on each (a box of mixed cards is planned on its smallest)
    name: str = ""

    def __str__(self) -> str:
        size = f"{self.memory / GIB:g}GB"
        return f"{self.count}x{size}" + (f" ({self.name})" if self.name else "")


def parse_gpus(spec: str) -> Gpus:
    """COUNTxMEMORY: "2x24GB" is two GPUs of 24 GB (a card sold as N GB has about N GiB)."""
    match = _SPEC.match(spec)
    if match is None or float(match[2]) <= 0 or (match[1] is not None and int(match[1]) < 1):
        raise ValueError(f"--gpus {spec!r}: write COUNTxMEMORY, e.g. 2x24GB, 1x80GB or 8x141GB")
    return Gpus(int(match[1] or 1), int(float(match[2]) * GIB))


def detect_gpus() -> Gpus | None:
    """The CUDA GPUs torch sees (None without CUDA)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return None
    props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    smallest = min(props, key=lambda p: p.total_memory)
    return Gpus(len(props), int(smallest.total_memory), str(smallest.name))
