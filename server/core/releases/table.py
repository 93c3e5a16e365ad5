"""The release table: one row per GLM release, oldest first. Adding a release is adding a row here."""

from __future__ import annotations

from ..request import SamplingValues
from . import configs
from .configs import with_context
from .release import Release, Weights

COMMUNITY_AWQ = "community AWQ 4-bit"
GLM5_EFFORTS = ("high", "max")  # GLM-5 / 5.1 (default max)
GLM52_EFFORTS = ("low", "high", "max")  # GLM-5.2 and later (default max)

# The hosted API's documented defaults where they differ from its usual temperature 1.0, top_p 0.95.
GLM45_SAMPLING = SamplingValues(temperature=0.6, top_p=0.95)
VISION_SAMPLING = SamplingValues(temperature=0.8, top_p=0.6)

RELEASES: tuple[Release, ...] = (
    Release(
        "GLM-4.5",
        "Glm4MoeForCausalLM",
        layout="glm45",
        thinking="optional",
        hosted=("glm-4.5", "glm-4.5-x", "glm-4.5-flash"),
        weights=(Weights("zai-org/GLM-4.5-FP8", 362),),
        config=with_context(configs.GLM45, 131072),
        hosted_sampling=GLM45_SAMPLING,
    ),
    Release(
        "GLM-4.5-Air",
        "Glm4MoeForCausalLM",
        layout="glm45",
        thinking="optional",
        hosted=("glm-4.5-air", "glm-4.5-airx"),
        weights=(
            Weights("zai-org/GLM-4.5-Air-FP8", 113),
            Weights("cpatonn/GLM-4.5-Air-AWQ-4bit", 63, COMMUNITY_AWQ),
        ),
        config=configs.AIR,
        hosted_sampling=GLM45_SAMPLING,
    ),
    Release(
        "GLM-4.5V",
        "Glm4vMoeForConditionalGeneration",
        layout="glm45",
        thinking="optional",
        hosted=("glm-4.5v",),
        weights=(Weights("zai-org/GLM-4.5V-FP8", 112),),
        config=configs.GLM45V,
        hosted_sampling=VISION_SAMPLING,
        vision=True,
        box=True,
        tiny_template="tiny_glm45v_template.jinja",
    ),
    Release(
        "GLM-4.6",
        "Glm4MoeForCausalLM",
        layout="glm45",
        thinking="optional",
        hosted=("glm-4.6",),
        weights=(Weights("zai-org/GLM-4.6-FP8", 362), Weights("QuantTrio/GLM-4.6-AWQ", 196, COMMUNITY_AWQ)),
        config=with_context(configs.GLM45, 202752),
    ),
    Release(
        "GLM-4.6V",
        "Glm4vMoeForConditionalGeneration",
        layout="glm45",
        thinking="optional",
        hosted=("glm-4.6v",),
        weights=(Weights("zai-org/GLM-4.6V-FP8", 112),),
        config=configs.GLM46V,
        hosted_sampling=VISION_SAMPLING,
        vision=True,
        box=True,
    ),
    Release(
        "GLM-4.6V-Flash",
        "Glm4vForConditionalGeneration",
        layout="glm45",
        thinking="optional",
        hosted=("glm-4.6v-flash", "glm-4.6v-flashx"),
        weights=(Weights("zai-org/GLM-4.6V-Flash", 21),),
        config=configs.GLM46V_FLASH,
        vision=True,
        box=True,
        tiny_template="tiny_glm45v_template.jinja",
    ),
    Release(
        "GLM-4.7",
        "Glm4MoeForCausalLM",
        layout="glm47",
        thinking="opened",
        hosted=("glm-4.7",),
        weights=(Weights("zai-org/GLM-4.7-FP8", 362), Weights("QuantTrio/GLM-4.7-AWQ", 196, COMMUNITY_AWQ)),
        config=with_context(configs.GLM45, 202752),
        tiny_template="tiny_glm_template.jinja",
    ),
    Release(
        "GLM-4.7-Flash",
        "Glm4MoeLiteForCausalLM",
        layout="glm47",
        thinking="opened",
        hosted=("glm-4.7-flash", "glm-4.7-flashx"),
        weights=(
            Weights("zai-org/GLM-4.7-Flash", 62),
            Weights("mratsim/GLM-4.7-Flash-FP8", 33, "community FP8 (BF16 attention and router)"),
            Weights("cyankiwi/GLM-4.7-Flash-AWQ-4bit", 19, COMMUNITY_AWQ),
        ),
        config=configs.FLASH,
        tiny_template="tiny_glm_template.jinja",
    ),
    Release(
        "GLM-4V-Plus", None, layout="glm47", thinking="opened", hosted=("glm-4v-plus",), vision=True
    ),  # hosted only
    Release(
        "GLM-5",
        "GlmMoeDsaForCausalLM",
        layout="glm47",
        thinking="opened",
        hosted=("glm-5", "glm-5-turbo"),
        config=configs.GLM5,
        efforts=GLM5_EFFORTS,
        tiny_template="tiny_glm_template.jinja",
    ),
    Release(
        "GLM-5V-Turbo", None, layout="glm47", thinking="opened", hosted=("glm-5v-turbo",), vision=True
    ),  # hosted only
    Release(
        "GLM-5.1",
        "GlmMoeDsaForCausalLM",
        layout="glm47",
        thinking="opened",
        hosted=("glm-5.1",),
        weights=(Weights("zai-org/GLM-5.1-FP8", 756),),
        config=configs.GLM5,
        efforts=GLM5_EFFORTS,
    ),
    Release(
        "GLM-5.2",
        "GlmMoeDsaForCausalLM",
        layout="glm47",
        thinking="opened",
        hosted=("glm-5.2",),
        weights=(Weights("zai-org/GLM-5.2-FP8", 765),),
        config=with_context(configs.GLM5, 262144),
        efforts=GLM52_EFFORTS,
    ),
    Release(
        "GLM-5.3",
        "GlmMoeDsaForCausalLM",
        layout="glm47",
        thinking="always",
        hosted=("glm-5.3",),
        weights=(Weights("zai-org/GLM-5.3-FP8", 765),),
        config=with_context(configs.GLM5, 262144),
        efforts=GLM52_EFFORTS,
    ),
    Release(
        "GLM-5.3-Flash",
        "Glm5NextForConditionalGeneration",
        layout="glm47",
        thinking="always",
        hosted=("glm-5.3-flash", "glm-5.3-flashx"),
        weights=(Weights("zai-org/GLM-5.3-Flash-FP8", 330),),
        config=configs.GLM53_FLASH,
        efforts=GLM52_EFFORTS,
        vision=True,
        tiny_template="tiny_glm53_template.jinja",
    ),
)
