"""Sizing source: a preset's or weights directory's shape, size and layout, from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ....core import releases
from ....settings import EngineSettings
from .fit import Layout
from .shape import ModelShape, read_shape, shape_of, weight_bytes


class UnknownSize(ValueError):
    """Neither the weights nor the published table say how big the model is."""


@dataclass(frozen=True, slots=True)
class Sized:
    shape: ModelShape
    weight_bytes: int
    layout: Layout
    source: str  # where the numbers came from: "config.json + index in DIR" or "published sizes of REPO"


def layout_of(settings: EngineSettings) -> Layout:
    extra = settings.vllm_args
    spec = settings.speculative_config or {}
    return Layout(
        tp=settings.tensor_parallel_size,
        pp=int(extra.get("pipeline_parallel_size", 1)),
        dp=int(extra.get("data_parallel_size", 1)),
        expert_parallel=bool(extra.get("enable_expert_parallel", False)),
        kv_dtype=str(extra.get("kv_cache_dtype", "auto")),
        mtp=spec.get("method") == "mtp",
        gpu_memory_utilization=settings.gpu_memory_utilization,
        max_model_len=settings.max_model_len,
        cpu_offload=int(float(extra.get("cpu_offload_gb", 0)) * 2**30),
    )


def sized(settings: EngineSettings) -> Sized:
    """The model's numbers: its own config.json and safetensors index when the weights are on disk, else
    the published ones of the repo the preset names."""
    model = settings.model or ""
    directory = Path(model)
    if (directory / "config.json").exists():
        return Sized(
            read_shape(directory),
            weight_bytes(directory),
            layout_of(settings),
            f"config.json and safetensors index in {directory}",
        )
    published = releases.weights_named(model)
    if published is None or not published[0].config:
        raise UnknownSize(
            f"{model}: no config.json there and no published sizes for it; download the weights first"
        )
    release, checkpoint = published
    shape = shape_of(release.config)
    return Sized(shape, int(checkpoint.gb * 1e9), layout_of(settings), f"published sizes of {model}")
