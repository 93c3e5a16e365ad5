"""Field types every wire format shares, checked at the wire so that a bad value is a 400 naming it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# What a torch generator takes (any 64-bit integer, signed or not); beyond it vLLM fails mid-stream.
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]

# A request's `model`, optional as vLLM's server makes it: left out (""), it is the one model served
# (http.deps.json_body fills it in; a server of several models asks for it). Chat and text completions
# and Messages; the Responses API requires it, as OpenAI and the Open Responses specification do.
OPTIONAL_MODEL = Field("", description="the model to use; optional when the server serves one model")
