"""Published: the config values and checkpoint sizes of GLM's releases, for plans made without the weights.

The config values are the releases' config.json (the keys that decide memory); the sizes are the
checkpoints' safetensors totals in GB (10^9 bytes), rounded; community 4-bit quantizations are marked.
With the weights on disk, a plan reads their own config.json and index instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .shape import ModelShape, shape_of

_GLM45: dict[str, Any] = {  # GLM-4.5 / 4.6 / 4.7 (355B-A32B): GQA, 96 query heads, 8 KV heads of 128
    "architectures": ["Glm4MoeForCausalLM"],
    "num_hidden_layers": 92,
    "hidden_size": 5120,
    "num_attention_heads": 96,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151552,
    "num_nextn_predict_layers": 1,
}
_AIR: dict[str, Any] = {
    **_GLM45,
    "num_hidden_layers": 46,
    "hidden_size": 4096,
    "max_position_embeddings": 131072,
}
_FLASH: dict[str, Any] = {  # GLM-4.7-Flash (30B-A3B): MLA, a 512-wide latent + 64 of rope per token and layer
    "architectures": ["Glm4MoeLiteForCausalLM"],
    "num_hidden_layers": 47,
    "hidden_size": 2048,
    "num_attention_heads": 20,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "vocab_size": 154880,
    "max_position_embeddings": 202752,
    "num_nextn_predict_layers": 1,
}
_GLM5: dict[str, Any] = {  # GLM-5 / 5.1 / 5.2 / 5.3 (744-753B-A40B): MLA with DSA's sparse indexer
    "architectures": ["GlmMoeDsaForCausalLM"],
    "num_hidden_layers": 78,
    "hidden_size": 6144,
    "num_attention_heads": 64,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "index_head_dim": 128,
    "vocab_size": 154880,
    "max_position_embeddings": 202752,
    "num_nextn_predict_layers": 1,
}
_NEXT_LAYERS = ["linear_attention"] * 3 + ["indexed_attention"]
_GLM53_FLASH: dict[
    str, Any
] = {  # GLM-5.3-Flash (320B-A18B): 1 indexed-attention layer in 4, the rest linear attention
    "architectures": ["Glm5NextForConditionalGeneration"],
    "text_config": {
        "num_hidden_layers": 45,
        "layer_types": [*(_NEXT_LAYERS * 12)[:44], "linear_attention"],
        "hidden_size": 4096,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 0,
        "index_head_dim": 128,
        "linear_num_heads": 64,
        "linear_head_dim": 128,
        "vocab_size": 154880,
        "max_position_embeddings": 1048576,
        "num_nextn_predict_layers": 1,
    },
}
_GLM45V: dict[str, Any] = {
    "architectures": ["Glm4vMoeForConditionalGeneration"],
    "text_config": {**_AIR, "max_position_embeddings": 65536, "num_nextn_predict_layers": 0},
}
_GLM46V_FLASH: dict[str, Any] = {  # GLM-4.6V-Flash (9B, dense): GQA with 2 KV heads
    "architectures": ["Glm4vForConditionalGeneration"],
    "text_config": {
        "num_hidden_layers": 40,
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "num_key_value_heads": 2,
        "head_dim": 128,
        "vocab_size": 151552,
        "max_position_embeddings": 131072,
    },
}


@dataclass(frozen=True, slots=True)
class Release:
    config: dict[str, Any]
    weights_gb: float  # the checkpoint's tensors, 10^9 bytes

    @property
    def shape(self) -> ModelShape:
        return shape_of(self.config)

    @property
    def weight_bytes(self) -> int:
        return int(self.weights_gb * 1e9)


def _ctx(config: dict[str, Any], context: int) -> dict[str, Any]:
    return {**config, "max_position_embeddings": context}


RELEASES: dict[str, Release] = {
    "zai-org/GLM-4.5-FP8": Release(_ctx(_GLM45, 131072), 362),
    "zai-org/GLM-4.6-FP8": Release(_ctx(_GLM45, 202752), 362),
    "zai-org/GLM-4.7-FP8": Release(_ctx(_GLM45, 202752), 362),
    "QuantTrio/GLM-4.6-AWQ": Release(_ctx(_GLM45, 202752), 196),  # community AWQ 4-bit
    "QuantTrio/GLM-4.7-AWQ": Release(_ctx(_GLM45, 202752), 196),  # community AWQ 4-bit
    "zai-org/GLM-4.5-Air-FP8": Release(_AIR, 113),
    "cpatonn/GLM-4.5-Air-AWQ-4bit": Release(_AIR, 63),  # community AWQ 4-bit
    "zai-org/GLM-4.7-Flash": Release(_FLASH, 62),
    "mratsim/GLM-4.7-Flash-FP8": Release(_FLASH, 33),  # community FP8 (BF16 attention and router)
    "cyankiwi/GLM-4.7-Flash-AWQ-4bit": Release(_FLASH, 19),  # community AWQ 4-bit
    "zai-org/GLM-5.1-FP8": Release(_GLM5, 756),
    "zai-org/GLM-5.2-FP8": Release(_ctx(_GLM5, 262144), 765),
    "zai-org/GLM-5.3-FP8": Release(_ctx(_GLM5, 262144), 765),
    "zai-org/GLM-5.3-Flash-FP8": Release(_GLM53_FLASH, 330),
    "zai-org/GLM-4.5V-FP8": Release(_GLM45V, 112),
    "zai-org/GLM-4.6V-FP8": Release(
        {**_GLM45V, "text_config": {**_GLM45V["text_config"], "max_position_embeddings": 131072}}, 112
    ),
    "zai-org/GLM-4.6V-Flash": Release(_GLM46V_FLASH, 21),
}
