"""Responses routes: POST /v1/responses (streamed or whole), GET and DELETE of stored responses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..core.collect import collect
from ..core.errors import InvalidRequest, NotFound
from ..core.events import StreamEvent
from ..core.request import NEUTRAL_SAMPLING, SamplingValues
from ..http.deps import check_model, get_backend, json_body, open_stream
from ..http.direct import DirectRoute
from ..http.flow import respond
from ..http.openapi import takes
from . import compact, convert, render, schema
from .state import state
from .store import ResponseStore, Stored

log = logging.getLogger("glm_serve.responses")
router = APIRouter(route_class=DirectRoute)  # the generation routes skip FastAPI's per-request work
_warned: set[tuple[str, ...]] = set()


def _stored(store: ResponseStore, response_id: str) -> Stored:
    """A stored response named by GET or DELETE (404 otherwise)."""
    found = store.get(response_id)
    if found is None:
        raise NotFound(
            f"no stored response with id {response_id!r} (never stored with store: true, or expired)",
            param="response_id",
        )
    return found


def _previous(store: ResponseStore, response_id: str | None) -> tuple[schema.Item, ...]:
    """The conversation a previous_response_id continues. An unknown one is a 400 with OpenAI's code,
    on which clients resend the whole history."""
    if response_id is None:
        return ()
    found = store.get(response_id)
    if found is None:
        raise InvalidRequest(
            f"Previous response with id {response_id!r} not found (never stored with store: true, "
            "expired, or this server restarted)",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return found.items


def _resolved(store: ResponseStore, items: tuple[schema.Item, ...]) -> tuple[schema.Item, ...]:
    """The input with each item_reference replaced by the stored item it names (the AI SDK sends one for
    the previous step's reasoning); a 400 for an id nothing stored has."""
    if not any(isinstance(item, schema.ItemReference) for item in items):
        return items
    out: list[schema.Item] = []
    for i, item in enumerate(items):
        if isinstance(item, schema.ItemReference):
            found = store.item(item.id)
            if found is None:
                raise InvalidRequest(
                    f"no stored item with id {item.id!r} (its response was not stored, or has expired); "
                    "send the item itself",
                    param=f"input[{i}].id",
                )
            item = found
        out.append(item)
    return tuple(out)


def _head(body: schema.ResponsesRequest, sampling: SamplingValues) -> dict[str, Any]:
    """The request's settings as a response echoes them: every field of OpenAI's response object, with
    the values applied (`sampling` until the backend says what it used)."""
    fmt = body.text.format if body.text and body.text.format else schema.TextFormat()
    choice = body.tool_choice
    return {
        "completed_at": None,
        "model": body.model,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "max_tool_calls": body.max_tool_calls,
        "parallel_tool_calls": body.parallel_tool_calls,
        "previous_response_id": body.previous_response_id,
        "reasoning": {
            "effort": body.reasoning.effort if body.reasoning else None,
            "summary": body.reasoning.summary if body.reasoning else None,
        },
        "store": body.store,
        "background": False,
        **render.sampling_fields(sampling),
        "top_logprobs": body.top_logprobs or 0,
        "text": {"format": fmt.model_dump(by_alias=True, exclude_none=True)},
        "tool_choice": choice.model_dump(exclude_none=True)
        if isinstance(choice, schema.ToolChoice)
        else choice or "auto",
        "tools": [_echoed(t) for t in body.tools or ()],
        "truncation": body.truncation or "disabled",
        "user": body.user,
        "safety_identifier": body.safety_identifier,
        "metadata": body.metadata or {},
        "prompt_cache_key": body.prompt_cache_key,
        "service_tier": body.service_tier or "default",
    }


def _echoed(tool: schema.Tool) -> dict[str, Any]:
    """A tool as OpenAI echoes it: a function with every field (strict as applied: only when asked), a
    custom tool with its format; others (left out of the prompt) as sent."""
    if tool.type == "function":
        return {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "strict": bool(tool.strict),
        }
    if tool.type == "custom":
        fmt = tool.format or {"type": "text"}
        return {"type": "custom", "name": tool.name, "description": tool.description, "format": fmt}
    return tool.model_dump(exclude_none=True)


@router.post("/v1/responses", openapi_extra=takes(schema.ResponsesRequest, streams=True))
async def create_response(request: Request) -> Response:
    body = await json_body(request, schema.ResponsesRequest)
    backend, wire = await get_backend(request), state(request)
    store, seal = wire.store, wire.seal
    earlier = _previous(store, body.previous_response_id)
    given = _resolved(store, convert.input_items(body))
    converted = convert.chat_request(body, seal, earlier, given)
    check_model(backend, converted.request.model)
    output = render.Output(
        _head(body, NEUTRAL_SAMPLING.under(converted.request.sampling)),
        max_tool_calls=body.max_tool_calls,
        custom_tools=converted.custom_tools,
        namespaced=converted.namespaced,
        summary=converted.summary,
        seal=seal.seal if converted.sealed_reasoning else None,
        streaming=body.stream,
    )
    headers: dict[str, str] = {}
    if converted.dropped_tools:
        headers["x-glm-serve-dropped-tools"] = ",".join(converted.dropped_tools)
        if converted.dropped_tools not in _warned:  # once per kind of client, not every turn
            _warned.add(converted.dropped_tools)
            log.info("tools this server cannot run were left out: %s", ", ".join(converted.dropped_tools))
    items = (*earlier, *given)
    keep = store if body.store else None

    async def whole(primed: list[AsyncIterator[StreamEvent]]) -> dict[str, Any]:
        response = await render.response(primed[0], output)
        if keep is not None:
            _keep(keep, output, items)
        return response

    return await respond(
        request,
        [open_stream(request, converted.request, "responses")],
        stream=body.stream,
        sse=lambda primed: render.response_sse(primed[0], output, lambda: _then_store(output, items, keep)),
        whole=whole,
        headers=headers,
    )


def _then_store(output: render.Output, items: tuple[schema.Item, ...], store: ResponseStore | None) -> None:
    """At a stream's end: keep the response if it was asked to be kept and came to an end."""
    if store is not None and output.response["status"] in ("completed", "incomplete"):
        _keep(store, output, items)


def _keep(store: ResponseStore, output: render.Output, items: tuple[schema.Item, ...]) -> None:
    made = tuple(schema.item_adapter.validate_python(item) for item in output.items)
    store.put(output.response, (*items, *made))


@router.post("/v1/responses/compact", openapi_extra=takes(schema.CompactRequest))
async def compact_response(request: Request) -> Response:
    """The conversation summarised by the served model: the user's messages, then one compaction item."""
    body = await json_body(request, schema.CompactRequest)
    backend, wire = await get_backend(request), state(request)
    check_model(backend, body.model)
    earlier = _previous(wire.store, body.previous_response_id)
    items = (*earlier, *_resolved(wire.store, convert.input_items(body)))
    if not items:
        raise InvalidRequest("input is empty: there is nothing to compact", param="input")
    history = convert.messages(items, wire.seal, len(earlier))
    req = await compact.fitted(backend, compact.request(body.model, history, body.instructions))

    async def whole(primed: list[AsyncIterator[StreamEvent]]) -> dict[str, Any]:
        done = await collect(primed[0])
        sealed = wire.seal.seal((done.content or "").strip(), "compaction")
        return compact.resource(compact.output(items, sealed), render.usage_body(done.usage))

    return await respond(
        request, [open_stream(request, req, "responses")], stream=False, sse=None, whole=whole
    )


@router.get("/v1/responses/{response_id}")
async def get_response(request: Request, response_id: str) -> dict[str, Any]:
    return _stored(state(request).store, response_id).response


@router.delete("/v1/responses/{response_id}")
async def delete_response(request: Request, response_id: str) -> dict[str, Any]:
    store = state(request).store
    if not store.delete(response_id):
        _stored(store, response_id)  # raises the 404
    return {"id": response_id, "object": "response", "deleted": True}
