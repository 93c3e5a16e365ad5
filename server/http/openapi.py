"""The OpenAPI document: FastAPI's paths, with the request bodies the routes read themselves put back in.

The generation routes read their bodies with deps.json_body (pydantic-core parses and validates in one
pass) rather than through FastAPI's body parameters, which cost ~80 µs a request; FastAPI's own document
would then show no bodies. A route names its body model in `openapi_extra=takes(Model)` and the
document is assembled from those models once, when first asked for, off the hot path.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

_BODY = "x-glm-serve-body"
_STREAMS = "x-glm-serve-streams"
_MODELS: dict[str, type[BaseModel]] = {}

# Every error, on every route, in the wire's own shape: OpenAI's {"error": {...}} or Anthropic's
# {"type": "error", "error": {...}}.
ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}}}},
    "required": ["error"],
}


# One server-sent event of a stream: its data (JSON, or OpenAI's closing [DONE]) and, on the Anthropic and
# Responses wires, its event name.
EVENT = {
    "type": "object",
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
    "required": ["data"],
}


def takes(model: type[BaseModel], *, streams: bool = False) -> dict[str, Any]:
    """A route's `openapi_extra`: its JSON body is `model`; `streams`: it may answer text/event-stream."""
    name = f"{model.__module__}.{model.__qualname__}"
    _MODELS[name] = model
    return {_BODY: name, _STREAMS: streams}


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    names = sorted({op[_BODY] for op in _operations(doc) if _BODY in op})
    refs, schemas = models_json_schema(
        [(_MODELS[n], "validation") for n in names], ref_template="#/components/schemas/{model}"
    )
    by_name = {n: refs[(_MODELS[n], "validation")] for n in names}
    doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas.get("$defs", {}))
    for op in _operations(doc):
        ok: dict[str, Any] = {"application/json": {"schema": {}}}
        if name := op.pop(_BODY, None):
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_name[name]}}}
        if op.pop(_STREAMS, False):
            ok["text/event-stream"] = {"schema": EVENT}
        responses = op.setdefault("responses", {})
        if "200" in responses and "content" in responses["200"]:
            responses["200"]["content"] = {**responses["200"]["content"], **ok}
        responses.pop("422", None)  # FastAPI's validation shape: this server answers 400 in its own
        responses["default"] = {
            "description": "An error in the wire format's own shape",
            "content": {"application/json": {"schema": ERROR}},
        }
    return doc


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in doc.get("paths", {}).values() for op in path.values()]
