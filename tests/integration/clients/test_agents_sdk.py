"""The openai-agents SDK's default model (OpenAIResponsesModel) running a function-tool loop on glm-serve."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import openai

from parsers import render_tool_call
from server.core.request import ChatRequest
from tests.fake_server import fake_server


def weather_script(req: ChatRequest | Any) -> str:
    if req.messages[-1].role == "tool":
        return f"The tool answered.</think>In Oslo it is {req.messages[-1].content}."
    return "I need the weather tool.</think>" + render_tool_call("get_weather", {"city": "Oslo"}, "glm47")


def test_agent_runs_a_function_tool_loop() -> None:
    agents.set_tracing_disabled(True)  # traces would go to OpenAI's servers
    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return "sunny, 21 °C"

    async def run(base: str) -> Any:
        sdk = openai.AsyncOpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        try:
            model = agents.OpenAIResponsesModel(model="glm-test", openai_client=sdk)
            agent = agents.Agent(
                name="weather", instructions="Answer briefly.", tools=[get_weather], model=model
            )
            return await agents.Runner.run(agent, "What's the weather in Oslo?")
        finally:
            await sdk.close()

    with fake_server(weather_script) as (base, backend):
        result = asyncio.run(run(base))
    assert calls == ["Oslo"]
    assert result.final_output == "In Oslo it is sunny, 21 °C."
    first, second = backend.requests
    assert isinstance(first, ChatRequest) and [t.name for t in first.tools] == ["get_weather"]
    assert isinstance(second, ChatRequest)
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert second.messages[2].tool_calls[0].arguments == {"city": "Oslo"}
