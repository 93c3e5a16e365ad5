"""Responses input items of every shape become GLM's turns; stored responses continue conversations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from parsers import render_tool_call
from server.core.request import ChatRequest, HistoryToolCall, JsonAnswer, Message, NamedTool, Thinking
from tests.fake_server import client, fake_server

from .test_stream import APPLY_PATCH, WEATHER, raw_events


def last_request(backend: Any) -> ChatRequest:
    req = backend.requests[-1]
    assert isinstance(req, ChatRequest)
    return req


def sealed_reasoning(base: str, text: str) -> dict[str, Any]:
    """A reasoning item as this server hands it out (to send back as history)."""
    _, events = raw_events(
        base, {"model": "glm-test", "input": "x", "include": ["reasoning.encrypted_content"]}
    )
    (item,) = [i for i in events[-1]["response"]["output"] if i["type"] == "reasoning"]
    assert item["content"][0]["text"] == text
    return dict(item)


def test_history_items_in_every_shape() -> None:
    with fake_server("Thinking about it.</think>ok") as (base, backend):
        thought = sealed_reasoning(base, "Thinking about it.")
        history: list[dict[str, Any]] = [
            {"role": "developer", "content": "Be brief."},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Sys."}]},
            {"role": "user", "content": "Fix the bug, then check the weather."},
            {**thought, "summary": [{"type": "summary_text", "text": "a summary is not reasoning"}]},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city": "Oslo"}',
            },
            {
                "type": "function_call",
                "call_id": "c2",
                "name": "list",
                "arguments": "",
                "id": "fc_2",
                "status": "completed",
            },
            {"type": "function_call_output", "call_id": "c1", "output": "Sunny"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "a.py "}, {"type": "input_text", "text": "b.py"}],
            },
            {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Shown."}]},
            {"type": "custom_tool_call", "call_id": "c3", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "c3", "output": "Done!"},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "Fixed. ", "annotations": []},
                    {"type": "refusal", "refusal": "No more."},
                ],
            },
            {"type": "message", "role": "assistant", "content": []},  # empty assistant content is legal
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
            {"role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
        ]
        r = httpx.post(
            base + "/v1/responses",
            json={
                "model": "glm-test",
                "input": history,
                "instructions": "You are GLM.",
                "tools": [WEATHER, APPLY_PATCH],
            },
        )
        assert r.status_code == 200, r.text
        assert last_request(backend).messages == (
            Message("system", "You are GLM."),
            Message("system", "Be brief."),
            Message("system", "Sys."),
            Message("user", "Fix the bug, then check the weather."),
            Message(
                "assistant",
                "",
                reasoning="Thinking about it.",
                tool_calls=(
                    HistoryToolCall("c1", "get_weather", {"city": "Oslo"}),
                    HistoryToolCall("c2", "list", {}),
                ),
            ),
            Message("tool", "Sunny", tool_call_id="c1"),
            Message("tool", "a.py b.py", tool_call_id="c2"),
            Message(
                "assistant",
                "",
                reasoning="Shown.",
                tool_calls=(HistoryToolCall("c3", "apply_patch", {"input": "*** Begin Patch"}),),
            ),
            Message("tool", "Done!", tool_call_id="c3"),
            Message("assistant", "Fixed. No more."),
            Message("assistant", ""),
            Message("user", "Thanks"),
        )


def test_an_unverified_seal_falls_back_to_the_text_the_item_shows(caplog: pytest.LogCaptureFixture) -> None:
    """A blob this server did not sign (forged, changed, another provider's) never speaks for the model;
    the reasoning_text (or summary) the item carries does, as for an item with no blob at all."""
    with fake_server("Real thoughts.</think>ok") as (base, backend):
        genuine = sealed_reasoning(base, "Real thoughts.")
        payload, _, signature = genuine["encrypted_content"].rpartition(".")
        forged = [
            genuine["encrypted_content"][:-3] + "abc",  # the signature changed
            "glm1." + payload[5:-2] + "xx." + signature,  # the text changed
            "gAAAAABoPaqueOpenAIBlob==",  # another provider's
        ]
        shown = {"content": [{"type": "reasoning_text", "text": "Shown."}]}
        summarised = {"content": None, "summary": [{"type": "summary_text", "text": "Summed up."}]}
        bare = {"content": None, "summary": []}
        for blob in forged:
            for extra, expect in ((shown, "Shown."), (summarised, "Summed up."), (bare, None)):
                item = {**genuine, "encrypted_content": blob, **extra}
                body = {
                    "model": "glm-test",
                    "input": [{"role": "user", "content": "a"}, item, {"role": "user", "content": "b"}],
                }
                assert httpx.post(base + "/v1/responses", json=body).status_code == 200
                roles = [m.role for m in last_request(backend).messages]
                if expect is None:
                    assert roles == ["user", "user"]  # nothing to fall back to: no reasoning at all
                else:
                    assert last_request(backend).messages[1].reasoning == expect
        body = {
            "model": "glm-test",
            "input": [{"role": "user", "content": "a"}, genuine, {"role": "user", "content": "b"}],
        }
        assert httpx.post(base + "/v1/responses", json=body).status_code == 200
        assert last_request(backend).messages[1] == Message("assistant", "", reasoning="Real thoughts.")
        # A long history of foreign blobs is one warning per request, not one per item.
        caplog.clear()
        items = [{**genuine, "encrypted_content": forged[2], **shown} for _ in range(5)]
        with caplog.at_level("WARNING", logger="glm_serve.responses"):
            httpx.post(
                base + "/v1/responses",
                json={"model": "glm-test", "input": [*items, {"role": "user", "content": "b"}]},
            )
        warned = [r for r in caplog.records if "did not sign" in r.getMessage()]
        assert len(warned) == 1 and warned[0].getMessage().startswith("5 reasoning item(s)")


def test_a_seal_from_another_server_secret_is_not_trusted() -> None:
    with fake_server("Mine.</think>ok", responses_secret="first-server-secret-0123") as (base, _):
        item = {**sealed_reasoning(base, "Mine."), "content": None}  # the blob alone
    with fake_server("x</think>ok", responses_secret="other-server-secret-9876") as (base, backend):
        body = {"model": "glm-test", "input": [item, {"role": "user", "content": "b"}]}
        assert httpx.post(base + "/v1/responses", json=body).status_code == 200
        assert last_request(backend).messages == (Message("user", "b"),)
    with fake_server("x</think>ok", responses_secret="first-server-secret-0123") as (base, backend):
        assert httpx.post(base + "/v1/responses", json=body).status_code == 200  # same secret: a replica
        assert last_request(backend).messages[0].reasoning == "Mine."


def test_the_signing_key_outlives_a_restart(tmp_path: Path) -> None:
    """Without --responses-secret, the key is drawn once and kept in the state directory (mode 0600): a
    session resumed after a restart keeps its reasoning. An unwritable directory costs only that."""
    state = tmp_path / "state"
    with fake_server("Before the restart.</think>ok", state_dir=state) as (base, _):
        item = {**sealed_reasoning(base, "Before the restart."), "content": None}
    key = state / "responses.key"
    assert key.stat().st_mode & 0o777 == 0o600
    body = {"model": "glm-test", "input": [item, {"role": "user", "content": "b"}]}
    with fake_server("x</think>ok", state_dir=state) as (base, backend):
        assert httpx.post(base + "/v1/responses", json=body).status_code == 200
        assert last_request(backend).messages[0].reasoning == "Before the restart."
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with fake_server("x</think>ok", state_dir=blocked / "state") as (base, backend):
        assert httpx.post(base + "/v1/responses", json=body).status_code == 200
        assert last_request(backend).messages == (Message("user", "b"),)


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        ({"reasoning": {"effort": "none"}}, {"thinking": Thinking(enabled=False)}),
        ({"reasoning": {"effort": "minimal"}}, {"thinking": Thinking(enabled=False)}),
        ({"reasoning": {"effort": "medium"}}, {"thinking": Thinking(enabled=True, effort="high")}),
        ({"reasoning": {"effort": "xhigh"}}, {"thinking": Thinking(enabled=True, effort="max")}),
        ({}, {"thinking": Thinking(), "tool_choice": "auto"}),
        ({"tools": [WEATHER], "tool_choice": "required"}, {"tool_choice": "required"}),
        ({"tools": [WEATHER], "tool_choice": "none"}, {"tool_choice": "none"}),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
            {"tool_choice": NamedTool("get_weather")},
        ),
        (
            {"tools": [WEATHER, APPLY_PATCH], "tool_choice": {"type": "custom", "name": "apply_patch"}},
            {"tool_choice": NamedTool("apply_patch")},
        ),
        ({"tools": [WEATHER], "parallel_tool_calls": False}, {"parallel_tool_calls": False}),
        ({"text": {"format": {"type": "json_object"}}}, {"response_format": JsonAnswer()}),
        (
            {"text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}}},
            {"response_format": JsonAnswer({"type": "object"})},
        ),
    ],
)
def test_controls_map_onto_the_core_request(extra: dict[str, Any], expect: dict[str, Any]) -> None:
    with fake_server("x</think>ok") as (base, backend):
        r = httpx.post(base + "/v1/responses", json={"model": "glm-test", "input": "hi", **extra})
        assert r.status_code == 200, r.text
        req = last_request(backend)
        for name, value in expect.items():
            assert getattr(req, name) == value


def test_sampling_and_accepted_extras() -> None:
    with fake_server("x</think>ok") as (base, backend):
        body = {
            "model": "glm-test",
            "input": "hi",
            "max_output_tokens": 50,
            "temperature": 0.3,
            "top_p": 0.9,
            "metadata": {"k": "v"},
            "user": "u1",
            "prompt_cache_key": "p",
            "truncation": "auto",
            "service_tier": "flex",
            "store": False,
        }
        response = httpx.post(base + "/v1/responses", json=body).json()
        s = last_request(backend).sampling
        assert (s.max_tokens, s.temperature, s.top_p) == (50, 0.3, 0.9)
        assert response["metadata"] == {"k": "v"} and response["user"] == "u1"
        assert response["max_output_tokens"] == 50 and response["store"] is False


def test_tools_it_cannot_run_are_left_out_and_named() -> None:
    with fake_server("x</think>ok") as (base, backend):
        tools = [
            WEATHER,
            {"type": "web_search", "external_web_access": False},
            {"type": "namespace", "name": "multi_agent", "tools": [WEATHER]},
            {"type": "image_generation"},
            {"type": "local_shell"},
            {"type": "mcp", "server_label": "gh"},
        ]
        r = httpx.post(base + "/v1/responses", json={"model": "glm-test", "input": "hi", "tools": tools})
        assert r.status_code == 200
        assert r.headers["x-glm-serve-dropped-tools"] == "web_search,image_generation,local_shell,mcp"
        # A namespace's functions are offered under flat names (test_namespaced_tools_round_trip).
        assert [t.name for t in last_request(backend).tools] == ["get_weather", "multi_agent__get_weather"]
        assert len(r.json()["tools"]) == 6  # echoed as given


def test_store_previous_response_get_and_delete() -> None:
    with fake_server(lambda req: f"Turn {len(req.messages)}.</think>Answer {len(req.messages)}.") as (
        base,
        backend,
    ):
        c = client(base)
        first = c.responses.create(model="glm-test", input="My name is Ada.", instructions="Be kind.")
        assert c.responses.retrieve(first.id).output[-1].content[0].text == first.output_text
        second = c.responses.create(model="glm-test", input="What is my name?", previous_response_id=first.id)
        # The earlier turn (with its reasoning) comes back; the earlier instructions do not.
        assert last_request(backend).messages == (
            Message("user", "My name is Ada."),
            Message("assistant", "Answer 2.", reasoning="Turn 2."),
            Message("user", "What is my name?"),
        )
        assert second.previous_response_id == first.id
        c.responses.create(model="glm-test", input="And again?", previous_response_id=second.id)
        assert len(last_request(backend).messages) == 5
        deleted = httpx.delete(f"{base}/v1/responses/{first.id}").json()
        assert deleted == {"id": first.id, "object": "response", "deleted": True}
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(first.id)
        # An unknown previous response is a 400 with the code clients resend the whole history on.
        with pytest.raises(openai.BadRequestError) as gone:
            c.responses.create(model="glm-test", input="x", previous_response_id=first.id)
        assert gone.value.code == "previous_response_not_found"
        assert gone.value.param == "previous_response_id"
        assert httpx.delete(f"{base}/v1/responses/{first.id}").status_code == 404
        unstored = c.responses.create(model="glm-test", input="x", store=False)
        assert httpx.get(f"{base}/v1/responses/{unstored.id}").status_code == 404
        with pytest.raises(openai.BadRequestError, match="not found"):  # a store: false turn's id too
            c.responses.create(model="glm-test", input="x", previous_response_id=unstored.id)
        with c.responses.stream(model="glm-test", input="streamed") as stream:
            for _ in stream:
                pass
            streamed_id = stream.get_final_response().id
        assert c.responses.retrieve(streamed_id).status == "completed"


def test_stored_responses_are_bounded_in_count_and_age() -> None:
    with fake_server("x</think>ok", responses_store_size=2, responses_store_ttl=0.5) as (base, _):
        c = client(base)
        ids = [c.responses.create(model="glm-test", input=str(i)).id for i in range(3)]
        assert [httpx.get(f"{base}/v1/responses/{i}").status_code for i in ids] == [404, 200, 200]
        time.sleep(0.6)
        assert httpx.get(f"{base}/v1/responses/{ids[2]}").status_code == 404


def test_a_tool_loop_through_the_sdk() -> None:
    def script(req: Any) -> str:
        if req.messages[-1].role == "tool":
            return f"Got it.</think>It is {req.messages[-1].content}."
        return "Need data.</think>" + render_tool_call("get_weather", {"city": "Oslo"}, "glm47")

    with fake_server(script) as (base, _):
        c = client(base)
        items: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
        first = c.responses.create(model="glm-test", input=items, tools=[WEATHER], store=False)
        call = next(o for o in first.output if o.type == "function_call")
        items += [o.to_dict() for o in first.output]
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})
        second = c.responses.create(model="glm-test", input=items, tools=[WEATHER], store=False)
        assert second.output_text == "It is sunny."


def test_item_references_resolve_to_stored_items() -> None:
    """The AI SDK (store on) sends the previous step's reasoning back as an item_reference: it resolves
    to the stored item, whether a response's output or its input; an id nothing stored has is a 400."""
    with fake_server(
        "Weather first.</think>Checking." + render_tool_call("get_weather", {"city": "Oslo"}, "glm47")
    ) as (
        base,
        backend,
    ):
        first = client(base).responses.create(
            model="glm-test",
            input=[{"role": "user", "content": "Oslo?", "id": "msg_user_1", "type": "message"}],
            tools=[WEATHER],
        )
        reasoning, message, call = first.output
        assert (reasoning.type, message.type, call.type) == ("reasoning", "message", "function_call")
        second = [
            {"type": "item_reference", "id": "msg_user_1"},  # an input item of the stored response
            {"type": "item_reference", "id": reasoning.id},
            {"type": "item_reference", "id": message.id},
            call.to_dict(),
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},  # type: ignore[union-attr]
        ]
        r = httpx.post(
            base + "/v1/responses", json={"model": "glm-test", "input": second, "tools": [WEATHER]}
        )
        assert r.status_code == 200, r.text
        assert last_request(backend).messages == (
            Message("user", "Oslo?"),
            Message(
                "assistant",
                "Checking.",
                reasoning="Weather first.",
                tool_calls=(HistoryToolCall(call.call_id, "get_weather", {"city": "Oslo"}),),  # type: ignore[union-attr]
            ),
            Message("tool", "sunny", tool_call_id=call.call_id),  # type: ignore[union-attr]
        )
        # The resolved items are what the new response stores: it can be continued in turn.
        third = httpx.post(
            base + "/v1/responses",
            json={"model": "glm-test", "input": "and now?", "previous_response_id": r.json()["id"]},
        )
        assert third.status_code == 200
        assert len(last_request(backend).messages) == 5
        gone = httpx.post(
            base + "/v1/responses",
            json={"model": "glm-test", "input": [{"type": "item_reference", "id": "rs_nowhere"}]},
        )
        assert gone.status_code == 400 and gone.json()["error"]["param"] == "input[0].id"


def test_a_history_call_whose_arguments_are_not_json_is_taken_as_written() -> None:
    with fake_server("x</think>ok") as (base, backend):
        for sent, parsed in (('{"city": "Oslo"}{"days": 1}', {"city": "Oslo", "days": 1}), ("{", {})):
            body = {
                "model": "glm-test",
                "input": [
                    {"role": "user", "content": "a"},
                    {"type": "function_call", "call_id": "c", "name": "get_weather", "arguments": sent},
                    {"type": "function_call_output", "call_id": "c", "output": "sunny"},
                ],
                "tools": [WEATHER],
            }
            r = httpx.post(base + "/v1/responses", json=body)
            assert r.status_code == 200, r.text
            (call,) = last_request(backend).messages[1].tool_calls
            assert (call.arguments, call.text) == (parsed, sent)


def test_namespaced_tools_round_trip() -> None:
    """Codex's MCP tools come as a namespace of functions: GLM sees `mcp__notes__lookup` (one flat,
    unique name), the call goes back as `name: lookup, namespace: mcp__notes`, and a history call in
    that shape is the flat name again. tool_search is accepted (and needs no tool of ours)."""
    lookup = {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    tools = [
        WEATHER,
        {"type": "namespace", "name": "mcp__notes", "description": "Notes.", "tools": [lookup]},
        {"type": "tool_search"},
    ]
    call = render_tool_call("mcp__notes__lookup", {"q": "launch"}, "glm47")
    with fake_server("Looking.</think>" + call) as (base, backend):
        r = httpx.post(base + "/v1/responses", json={"model": "glm-test", "input": "hi", "tools": tools})
        assert r.status_code == 200 and "x-glm-serve-dropped-tools" not in r.headers
        assert [t.name for t in last_request(backend).tools] == ["get_weather", "mcp__notes__lookup"]
        item = r.json()["output"][-1]
        assert (item["type"], item["name"], item["namespace"]) == ("function_call", "lookup", "mcp__notes")
        _, events = raw_events(base, {"model": "glm-test", "input": "hi", "tools": tools})
        done = [e for e in events if e["type"] == "response.output_item.done"][-1]["item"]
        assert (done["name"], done["namespace"]) == ("lookup", "mcp__notes")
        history = [
            {"role": "user", "content": "hi"},
            {k: item[k] for k in ("type", "call_id", "name", "namespace", "arguments")},
            {"type": "function_call_output", "call_id": item["call_id"], "output": "Tuesday"},
        ]
        httpx.post(base + "/v1/responses", json={"model": "glm-test", "input": history, "tools": tools})
        (sent,) = last_request(backend).messages[1].tool_calls
        assert (sent.name, sent.arguments) == ("mcp__notes__lookup", {"q": "launch"})
