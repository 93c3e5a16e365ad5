"""Air-gapped operation: the switches that keep vLLM, transformers and huggingface_hub off the network.

Set before any of them is imported (they read these once): the Hugging Face hub is never contacted
(weights, tokenizers and configs come from disk only), vLLM posts no usage statistics (it would at start
and every ten minutes), Ray, when vLLM's distributed executor starts it, reports nothing either. (That
`auto` and a fallback never pick the hosted API in this mode is the backend choice's rule: choice.py.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping

log = logging.getLogger("glm_serve")

SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def apply(environ: MutableMapping[str, str] | None = None) -> None:
    """Turn every switch on (a value the operator set explicitly is kept)."""
    env = os.environ if environ is None else environ
    for name, value in SWITCHES.items():
        env.setdefault(name, value)
    log.warning(
        "offline: no hub downloads, no usage statistics, no hosted API (%s)",
        ", ".join(f"{k}={env[k]}" for k in SWITCHES),
    )
