"""The Responses wire: create, get and delete responses; errors in OpenAI's shape, naming `input`."""

from __future__ import annotations

import copy
from typing import Any

from ..core.errors import ServerError
from ..http.request_id import with_request_id
from ..http.wire import Wire
from .routes import router
from .state import make as make_state


def error_body(exc: ServerError) -> dict[str, Any]:
    if exc.param == "messages":
        # A backend names the conversation "messages"; this wire calls it "input".
        exc = copy.copy(exc)
        exc.param = "input"
    error = {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
    return with_request_id({"error": error})


WIRE = Wire(
    "responses",
    router,
    error_body,
    generation_paths=("/v1/responses", "/v1/responses/compact"),
    make_state=make_state,
)
