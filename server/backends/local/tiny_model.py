"""Tiny random-weight GLM models: the CPU demo (a toy Glm4MoeForCausalLM) and one per architecture.

Each has its release's architecture at toy size (2 layers, hidden 128, 4 routed experts; tiny_archs.py)
and random weights: the demo produces gibberish, fast, through the real vLLM engine on CPU. The
tokenizer is a byte-level BPE trained here on generated text, with GLM's role markers as special tokens
and its tags (<think>, <tool_call>, <arg_key>, …) as added tokens that are *not* special, exactly as in
GLM's real tokenizer, so they survive detokenisation. The chat templates are our own, in each release's
prompt layout.
"""

from __future__ import annotations

import json
import os
import random
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .tiny_archs import ARCHS, ASSETS, Arch, model_class

TEMPLATE = ASSETS / "tiny_glm_template.jinja"


def _models_home() -> Path:
    """Where tiny models are built on first use: $GLM_SERVE_HOME/models, else the user's cache directory
    (never beside the code, which an installed wheel may not be allowed to write)."""
    home = os.environ.get("GLM_SERVE_HOME")
    if home:
        return Path(home) / "models"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "glm-serve" / "models"


TINY_MODEL_DIR = _models_home() / "tiny-glm"

# GLM's added tokens in the order of the real vocabulary (glm45 family); the first 21 are special.
SPECIAL = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|begin_of_audio|>",
    "<|end_of_audio|>",
    "<|begin_of_transcription|>",
    "<|end_of_transcription|>",
    "<|code_prefix|>",
    "<|code_middle|>",
    "<|code_suffix|>",
]
TAGS = [
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<arg_key>",
    "</arg_key>",
    "<arg_value>",
    "</arg_value>",
    "/nothink",
    "<|begin_of_box|>",
    "<|end_of_box|>",
    "<|image|>",
    "<|video|>",
]
EOS = ["<|endoftext|>", "<|user|>", "<|observation|>"]

_WORDS = """
the a of to and in is it you that he was for on are with
as I his they be at one have this from or had by hot word but
what some we can out other were all there when up use your how said an
each she which do their time if will way about many then them write would like
so these her long make thing see him two has look more day could go come
did number sound no most people my over know water than call first who may down
side been now find weather city file path query search read list time user model think
tool call answer reason because step result error value json python def return import class self
print true false null None for while range len str int float dict
""".split()  # noqa: SIM905
_CODE = [
    "def f(x):\n    return x + 1\n",
    "import os\nprint(os.getcwd())\n",
    '{"city": "Paris", "days": 3}',
    "for i in range(10):\n\tprint(i)\n",
    "if a < b and c > d:\n    pass\n",
    "x = [1, 2, 3]\n",
    "class A:\n    def __init__(self):\n        self.v = None\n",
    "<div class='x'>&amp;</div>\n",
]
_CJK = ["北京今天天气晴朗。", "你好,世界!", "用户想知道答案。", "안녕하세요, 세계!", "날씨가 좋습니다."]


def _corpus(seed: int = 0, lines: int = 4000) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        kind = rng.random()
        if kind < 0.6:
            words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 20))]
            out.append(" ".join(words).capitalize() + rng.choice([".", "?", "!", ":", ","]))
        elif kind < 0.85:
            out.append(rng.choice(_CODE))
        else:
            out.append(rng.choice(_CJK))
    out.append("".join(chr(c) for c in range(32, 127)))
    return out


def build_tokenizer(out: Path, vocab_size: int = 2048, template: Traversable = TEMPLATE) -> int:
    """Train the BPE, add GLM's tokens, save a fast tokenizer with our template; returns its length."""
    import importlib

    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    hf: Any = importlib.import_module("transformers")

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_corpus(), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    fast = hf.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
        model_max_length=8192,
    )
    fast.chat_template = template.read_text()
    fast.save_pretrained(out)
    return len(fast)


def build_model(out: Path, vocab: int, arch: Arch, seed: int = 0) -> None:
    """Random weights for `arch` at toy size (tiny_archs.py), saved with the generation config."""
    import importlib

    import torch

    hf: Any = importlib.import_module("transformers")  # typed loosely: its stubs lag its kwargs
    tok = hf.AutoTokenizer.from_pretrained(out)
    eos = [tok.convert_tokens_to_ids(t) for t in EOS]
    config = arch.config((vocab + 63) // 64 * 64, eos, tok)
    config.architectures = [arch.architecture]
    torch.manual_seed(seed)
    model = model_class(arch)(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(
        json.dumps({"eos_token_id": eos, "pad_token_id": eos[0], "temperature": 1.0, "top_p": 0.95}, indent=2)
    )
    if arch.vision:
        processor = importlib.import_module("transformers.models.glm4v").Glm4vImageProcessorPil
        processor(patch_size=14, temporal_patch_size=2, merge_size=2).save_pretrained(out)


def build(out: Path, arch: str = "glm4_moe") -> None:
    """Write the tokenizer, config and random weights of `arch` (a key of tiny_archs.ARCHS) into `out`."""
    chosen = ARCHS[arch]
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_tokenizer(out, template=ASSETS / chosen.template)
    build_model(out, vocab, chosen)


def tiny_dir(arch: str) -> Path:
    """Where the tiny model of `arch` lives (the GLM-4.5-architecture one is the demo model)."""
    return TINY_MODEL_DIR if arch == "glm4_moe" else TINY_MODEL_DIR.parent / f"tiny-{arch.replace('_', '-')}"
