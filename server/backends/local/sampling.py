"""vLLM's SamplingParams from our Sampling, and vLLM's logprobs back as our events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...core.errors import ContextTooLong
from ...core.events import LogprobsDelta, TokenLogprob, TopLogprob
from ...core.request import Sampling, SamplingValues

if TYPE_CHECKING:
    from vllm import SamplingParams


_KNOBS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
)


def sampling_params(
    s: Sampling,
    prompt_len: int,
    max_len: int,
    stop_ids: list[int],
    constraint: dict[str, Any] | None,
    defaults: Mapping[str, float],
) -> SamplingParams:
    """vLLM's SamplingParams for our Sampling: what room the context leaves, GLM's stop ids, the constraint,
    and the weights' generation_config `defaults` for the knobs the request leaves unset.
    ContextTooLong when the prompt and max_tokens do not fit; vLLM's own ValueError for a value it refuses."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    room = max_len - prompt_len
    if room <= 0 or (s.max_tokens is not None and s.max_tokens > room):
        wanted = prompt_len + (s.max_tokens or 1)
        raise ContextTooLong(
            f"This model's maximum context length is {max_len} tokens. However, you requested "
            f"{wanted} tokens ({prompt_len} in the messages, {s.max_tokens or 1} in the completion). "
            "Please reduce the length of the messages or completion.",
            param="messages",
        )
    kwargs: dict[str, Any] = {
        "max_tokens": s.max_tokens if s.max_tokens is not None else room,
        "stop": list(s.stop),
        # ignore_eos means "generate exactly max_tokens" (benchmarks): GLM's turn ends must not stop it.
        "stop_token_ids": [] if s.ignore_eos else stop_ids,
        "ignore_eos": s.ignore_eos,
        "seed": s.seed,
        "output_kind": RequestOutputKind.DELTA,
    }
    for name in _KNOBS:
        value = getattr(s, name)
        if value is None:
            value = defaults.get(name)
        if value is not None:
            kwargs[name] = value
    if s.min_tokens is not None:
        kwargs["min_tokens"] = s.min_tokens
    if s.logprobs:
        kwargs["logprobs"] = s.top_logprobs
    if constraint is not None:
        kwargs["structured_outputs"] = StructuredOutputsParams(structural_tag=json.dumps(constraint))
    return SamplingParams(**kwargs)


def sampling_used(s: Sampling, defaults: Mapping[str, float]) -> SamplingValues:
    """The values sampling_params samples `s` with, as a response reports them."""
    return SamplingValues(
        **{k: float(v) for k, v in defaults.items() if k in SamplingValues.__dataclass_fields__}
    ).under(s)


def logprobs_delta(token_ids: Any, logprobs: Any, top_n: int, tokenizer: Any) -> LogprobsDelta:
    """vLLM's per-token {id: Logprob} maps as our events: the sampled token, and the top_n by rank.

    vLLM adds the sampled token to the top-n at its own rank, so a map can hold n + 1 entries.
    """
    tokens = []
    for token_id, candidates in zip(token_ids, logprobs, strict=False):
        chosen = candidates.get(token_id)
        text = (
            chosen.decoded_token
            if chosen and chosen.decoded_token is not None
            else tokenizer.decode([token_id])
        )
        ranked = sorted((kv for kv in candidates.items() if kv[1].rank), key=lambda kv: kv[1].rank)
        top = tuple(
            TopLogprob(c.decoded_token if c.decoded_token is not None else tokenizer.decode([i]), c.logprob)
            for i, c in ranked[:top_n]
        )
        tokens.append(TokenLogprob(text, chosen.logprob if chosen else float("-inf"), top))
    return LogprobsDelta(tuple(tokens))
