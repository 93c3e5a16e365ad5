"""Parser speed: µs per streamed delta, ours vs vLLM's Glm47MoeParser, on ~3 k / 12 k / 45 k char outputs.

    .venv/bin/python scripts/bench_parser.py [--model DIR] [--repeat 3]

Each output is reasoning followed by tool calls whose string arguments are long code, in GLM-4.7's layout.
It is tokenised with a tokenizer that carries GLM's special tokens (the tiny model's; built if missing),
and both parsers get the same token-sized deltas (vLLM also gets the token ids, as in its server). Both
results are checked to agree before timing. Prints the best of --repeat runs for each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parsers import GlmParser, MessageBuilder, render_tool_call  # noqa: E402
from server.backends.local.tiny_model import TINY_MODEL_DIR  # noqa: E402

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Write a file.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"},
                    "overwrite": {"type": "boolean"},
                },
                "required": ["path", "content"],
            },
        },
    }
]

_REASONING = (
    "The user wants a helper module. I should look at the structure first, then write the file "
    "with the functions they asked for, keeping the style of the existing code. "
)
_CODE_LINE = '    result = compute(value, factor={i}) if value < limit else fallback("x", {i})\n'


def make_output(target_chars: int) -> str:
    """Reasoning (~15 %), then write_file calls with long code bodies, until about target_chars."""
    reasoning = (_REASONING * (target_chars // 6 // len(_REASONING) + 1))[: target_chars * 15 // 100]
    text = reasoning + "</think>"
    i = 0
    while len(text) < target_chars:
        body = "".join(_CODE_LINE.format(i=j) for j in range(i, i + 40))
        text += render_tool_call(
            "write_file",
            {"path": f"src/mod_{i}.py", "content": "def f():\n" + body, "overwrite": True},
            "glm47",
        )
        i += 40
    return text


def token_deltas(tokenizer: Any, text: str) -> list[tuple[str, int]]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    deltas = [(tokenizer.decode([i], skip_special_tokens=False), i) for i in ids]
    assert "".join(d for d, _ in deltas) == text, "per-token decoding must reproduce the text"
    return deltas


def run_ours(deltas: list[tuple[str, int]]) -> tuple[float, dict[str, Any]]:
    parser = GlmParser("glm47", TOOLS, starts_in_reasoning=True)
    builder = MessageBuilder()
    start = time.perf_counter()
    for text, _ in deltas:
        for event in parser.feed(text):
            builder.add(event)
    for event in parser.finish():
        builder.add(event)
    elapsed = time.perf_counter() - start
    msg = builder.build()
    return elapsed, {
        "reasoning": msg.reasoning,
        "calls": [(c.name, json.loads(c.arguments)) for c in msg.tool_calls],
    }


def run_vllm(deltas: list[tuple[str, int]], tokenizer: Any) -> tuple[float, dict[str, Any]]:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.parser.glm47_moe import Glm47MoeParser

    request = ChatCompletionRequest(model="glm", messages=[{"role": "user", "content": "hi"}], tools=TOOLS)
    parser = Glm47MoeParser(tokenizer, request.tools, chat_template_kwargs={})
    reasoning: list[str] = []
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    last = len(deltas) - 1
    start = time.perf_counter()
    outs = [
        parser.parse_delta(text, [tid], request, finished=(n == last)) for n, (text, tid) in enumerate(deltas)
    ]
    elapsed = time.perf_counter() - start
    for delta in outs:
        if delta is None:
            continue
        if delta.reasoning:
            reasoning.append(delta.reasoning)
        for tc in delta.tool_calls or []:
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
    return elapsed, {
        "reasoning": "".join(reasoning).strip() or None,
        "calls": [(names[i], json.loads(args[i])) for i in sorted(names)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=TINY_MODEL_DIR)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not (args.model / "tokenizer.json").exists():
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_tiny_glm.py"), str(args.model)], check=True
        )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.model_max_length = 10**9  # the 45 k output is one long text, not a model input
    print(f"{'chars':>7} {'deltas':>7} {'ours µs/delta':>14} {'vLLM µs/delta':>14} {'vLLM/ours':>10}")
    for target in (3_000, 12_000, 45_000):
        deltas = token_deltas(tokenizer, make_output(target))
        ours_t, ours_r = min((run_ours(deltas) for _ in range(args.repeat)), key=lambda r: r[0])
        vllm_t, vllm_r = min((run_vllm(deltas, tokenizer) for _ in range(args.repeat)), key=lambda r: r[0])
        assert ours_r == vllm_r, f"parsers disagree at {target} chars"
        n = len(deltas)
        chars = sum(len(d) for d, _ in deltas)
        print(
            f"{chars:>7} {n:>7} {ours_t / n * 1e6:>14.2f} {vllm_t / n * 1e6:>14.2f} {vllm_t / ours_t:>9.1f}x"
        )


if __name__ == "__main__":
    main()
