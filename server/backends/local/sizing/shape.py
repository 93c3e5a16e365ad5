"""ModelShape: what of a GLM checkpoint's config decides its memory, and its KV cache bytes per token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Attention = Literal["gqa", "mla", "dsa", "hybrid"]

# Bytes per element of the KV cache: vLLM's kv_cache_dtype "auto" keeps the model's (BF16 for GLM).
KV_DTYPE_BYTES = {"auto": 2.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0}
# DSA's indexer keeps one FP8 key per token and layer plus a float32 scale (vLLM's layout), whatever the
# cache dtype of the latent.
INDEXER_SCALE_BYTES = 4
LINEAR_STATE_BYTES = 4  # GLM-5.3-Flash's linear-attention state is float32


@dataclass(frozen=True, slots=True)
class ModelShape:
    architecture: str
    attention: Attention
    layers: int  # layers that keep a per-token cache (all, or the hybrid's indexed-attention layers)
    kv_heads: int = 0  # GQA
    head_dim: int = 0  # GQA
    latent: int = 0  # MLA: kv_lora_rank + qk_rope_head_dim, one vector per token shared by all heads
    indexer_dim: int = 0  # DSA: the sparse indexer's key width
    linear_layers: int = 0  # hybrid: layers with a fixed-size recurrent state per sequence
    linear_state: int = 0  # elements of that state per layer
    mtp_layers: int = 0  # multi-token-prediction layers (each caches like one more layer when MTP runs)
    max_context: int = 131072
    hidden: int = 4096
    vocab: int = 151552
    # The routed experts' share of the parameters (0: a dense model, or a config that does not say).
    # Expert parallelism spreads these over the ranks; every rank holds the rest whole.
    expert_share: float = 0.0

    def kv_bytes_per_token(
        self, kv_dtype: str = "auto", tp: int = 1, pp: int = 1, mtp: bool = False
    ) -> float:
        """KV cache bytes one token takes on each GPU, at tensor-parallel `tp` and pipeline `pp`.

        GQA splits its KV heads across the tensor-parallel ranks (a rank keeps at least one: heads
        are replicated when there are more ranks than heads); MLA's latent is one vector per token that
        every rank keeps whole; DSA adds its indexer's FP8 key; pipeline stages each keep their layers."""
        element = KV_DTYPE_BYTES[kv_dtype]
        layers = self.layers + (self.mtp_layers if mtp else 0)
        if self.attention == "gqa":
            per_layer = 2 * max(1, self.kv_heads // tp) * self.head_dim * element
        else:
            per_layer = self.latent * element
            if self.attention in ("dsa", "hybrid"):
                per_layer += self.indexer_dim + INDEXER_SCALE_BYTES
        return per_layer * layers / pp

    def state_bytes_per_sequence(self, tp: int = 1, pp: int = 1) -> float:
        """The hybrid's linear-attention state: fixed per sequence, however long (heads split by tp)."""
        return self.linear_layers * self.linear_state * LINEAR_STATE_BYTES / tp / pp


def shape_of(config: Mapping[str, Any]) -> ModelShape:
    """The shape of a checkpoint's config.json (a vision model's text config inside it)."""
    arch = str((config.get("architectures") or ["?"])[0])
    text: Mapping[str, Any] = config.get("text_config") or config

    def get(key: str) -> Any:
        return text.get(key)

    common: dict[str, Any] = {
        "architecture": arch,
        "max_context": int(get("max_position_embeddings") or 131072),
        "hidden": int(get("hidden_size")),
        "vocab": int(get("vocab_size") or config.get("vocab_size") or 151552),
        "mtp_layers": int(get("num_nextn_predict_layers") or 0),
        "expert_share": _expert_share(text),
    }
    layers = int(get("num_hidden_layers"))
    if get("layer_types") and get("linear_num_heads"):  # GLM-5.3-Flash: indexed + linear attention
        kinds = list(get("layer_types"))
        heads, dim = int(get("linear_num_heads")), int(get("linear_head_dim"))
        return ModelShape(
            attention="hybrid",
            layers=kinds.count("indexed_attention"),
            latent=int(get("kv_lora_rank")) + int(get("qk_rope_head_dim") or 0),
            indexer_dim=int(get("index_head_dim")),
            linear_layers=kinds.count("linear_attention"),
            linear_state=heads * dim * dim,
            **common,
        )
    if get("kv_lora_rank"):
        latent = int(get("kv_lora_rank")) + int(get("qk_rope_head_dim") or 0)
        if get("index_head_dim"):
            return ModelShape(
                attention="dsa",
                layers=layers,
                latent=latent,
                indexer_dim=int(get("index_head_dim")),
                **common,
            )
        return ModelShape(attention="mla", layers=layers, latent=latent, **common)
    heads = int(get("num_attention_heads"))
    head_dim = int(get("head_dim") or int(get("hidden_size")) // heads)
    kv_heads = int(get("num_key_value_heads") or heads)
    return ModelShape(attention="gqa", layers=layers, kv_heads=kv_heads, head_dim=head_dim, **common)


def _expert_share(config: Mapping[str, Any]) -> float:
    """The routed experts' share of the parameter count, from the config's sizes. The rest is counted
    roughly (embeddings and output head, attention as four hidden x hidden projections a layer, the
    dense layers' and shared experts' MLPs): for GLM-4.5 this gives 353B in all against the published
    355B, 95 % of them in experts."""
    routed = int(config.get("n_routed_experts") or 0)
    if not routed:
        return 0.0
    hidden, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
    dense_layers = int(config.get("first_k_dense_replace") or 0)
    expert = 3 * hidden * int(config["moe_intermediate_size"])  # gate, up and down projections
    experts = (layers - dense_layers) * routed * expert
    heads = int(config.get("num_attention_heads") or 1)
    head_dim = int(config.get("head_dim") or hidden // heads)
    kv_heads = int(config.get("num_key_value_heads") or heads)
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads) if config.get("head_dim") else 4 * hidden**2
    rest = (
        2 * int(config.get("vocab_size") or 151552) * hidden
        + layers * attention
        + dense_layers * 3 * hidden * int(config.get("intermediate_size") or 0)
        + (layers - dense_layers) * int(config.get("n_shared_experts") or 0) * expert
    )
    return experts / (experts + rest)


def read_shape(directory: Path) -> ModelShape:
    return shape_of(json.loads((directory / "config.json").read_text()))


def weight_bytes(directory: Path) -> int:
    """The checkpoint's tensor bytes: the safetensors index's total, else the files' sizes."""
    index = directory / "model.safetensors.index.json"
    if index.exists():
        total = json.loads(index.read_text()).get("metadata", {}).get("total_size")
        if total:
            return int(total)
    return sum(f.stat().st_size for f in directory.glob("*.safetensors"))
