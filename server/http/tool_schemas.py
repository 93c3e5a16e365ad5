"""Tool schemas checked against the JSON Schema metaschema: a broken one is a 400 naming the tool and where.

Unchecked, `"type": "objekt"` went through silently: the template showed the model nonsense, and a
forced call (tool_choice "required") was constrained by a grammar of it, or failed inside the engine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ..core.errors import InvalidRequest
from ..core.request import Tool

_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)


def check_tools(tools: Sequence[Tool]) -> None:
    for i, tool in enumerate(tools):
        # Agents send the same tools every turn: the verdict is cached on the schema's text.
        problem = _problem(json.dumps(tool.parameters, sort_keys=True))
        if problem is not None:
            raise InvalidRequest(
                f"tool {tool.name!r}: its parameters are not a valid JSON Schema: {problem}",
                param=f"tools[{i}]",
            )


@lru_cache(maxsize=1024)
def _problem(schema_text: str) -> str | None:
    error = best_match(_META.iter_errors(json.loads(schema_text)))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(the top level)"
    return f"{error.message} at {where}"
