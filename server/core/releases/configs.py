"""The published config.json values of GLM's releases that decide memory, for plans made without weights.

With the weights on disk, a plan reads their own config.json instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GLM45: dict[str, Any] = {  # GLM-4.5 / 4.6 / 4.7 (355B-A32B): GQA, 96 query heads, 8 KV heads of 128
    "architectures": ["Glm4MoeForCausalLM"],
    "num_hidden_layers": 92,
    "hidden_size": 5120,
    "num_attention_heads": 96,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151552,
    "num_nextn_predict_layers": 1,
    # The mixture of experts: 160 routed experts (and one shared) in every layer past the first three.
    "intermediate_size": 12288,
    "moe_intermediate_size": 1536,
    "n_routed_experts": 160,
    "n_shared_experts": 1,
    "first_k_dense_replace": 3,
}
AIR: dict[str, Any] = {  # GLM-4.5-Air (106B-A12B)
    **GLM45,
    "num_hidden_layers": 46,
    "hidden_size": 4096,
    "max_position_embeddings": 131072,
    "intermediate_size": 10944,
    "moe_intermediate_size": 1408,
    "n_routed_experts": 128,
    "first_k_dense_replace": 1,
}
FLASH: dict[str, Any] = {  # GLM-4.7-Flash (30B-A3B): MLA, a 512-wide latent + 64 of rope per token and layer
    "architectures": ["Glm4MoeLiteForCausalLM"],
    "num_hidden_layers": 47,
    "hidden_size": 2048,
    "num_attention_heads": 20,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "vocab_size": 154880,
    "max_position_embeddings": 202752,
    "num_nextn_predict_layers": 1,
    "intermediate_size": 10240,
    "moe_intermediate_size": 1536,
    "n_routed_experts": 64,
    "n_shared_experts": 1,
    "first_k_dense_replace": 1,
}
GLM5: dict[str, Any] = {  # GLM-5 / 5.1 / 5.2 / 5.3 (744-753B-A40B): MLA with DSA's sparse indexer
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
    "intermediate_size": 12288,
    "moe_intermediate_size": 2048,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "first_k_dense_replace": 3,
}
_NEXT_LAYERS = ["linear_attention"] * 3 + ["indexed_attention"]
GLM53_FLASH: dict[
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
GLM45V: dict[str, Any] = {
    "architectures": ["Glm4vMoeForConditionalGeneration"],
    "text_config": {**AIR, "max_position_embeddings": 65536, "num_nextn_predict_layers": 0},
}
GLM46V_FLASH: dict[str, Any] = {  # GLM-4.6V-Flash (9B, dense): GQA with 2 KV heads
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


GLM46V: dict[str, Any] = {
    **GLM45V,
    "text_config": {**GLM45V["text_config"], "max_position_embeddings": 131072},
}


def with_context(config: Mapping[str, Any], context: int) -> dict[str, Any]:
    """`config` with another native context length (releases that share an architecture differ in it)."""
    return {**config, "max_position_embeddings": context}
