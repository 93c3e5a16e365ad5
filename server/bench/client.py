"""One streamed chat request, timed: when its first output arrived, the gaps between outputs, its usage.

The load generator must never be what limits the figures, so this reads the body as it comes (no line
iterator), decodes each chunk with msgspec, and keeps no more than a request's own text.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from .targets import Target
from .workloads import Task

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Sample:
    """What one request measured. Times are seconds; `start` is from the beginning of the run."""

    target: str
    task: str
    workload: str
    level: str
    warmup: bool
    start: float
    e2el: float
    ttft: float | None = None  # to the first output: text, reasoning or a tool call
    ttfc: float | None = None  # to the first chunk of any kind (vllm bench's TTFT: a role-only chunk counts)
    itl: tuple[float, ...] = ()
    prompt_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    chunks: int = 0
    error: str | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments as sent)
    content: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def tpot(self) -> float | None:
        """Time per output token after the first (vLLM's definition)."""
        if self.ttft is None or self.output_tokens < 2:
            return None
        return (self.e2el - self.ttft) / (self.output_tokens - 1)


@dataclass
class _Reading:
    """What a stream has produced so far."""

    chunks: int = 0
    first_chunk: float | None = None
    output_times: list[float] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    arguments: dict[int, list[str]] = field(default_factory=dict)
    content: list[str] = field(default_factory=list)
    error: str | None = None
    done: bool = False

    def chunk(self, data: bytes, now: float) -> None:
        try:
            chunk = _decode(data)
        except msgspec.DecodeError:
            self.error = "malformed_chunk"
            return
        if not isinstance(chunk, dict):
            return
        self.chunks += 1
        if "error" in chunk:
            self.error = "stream_error"
            return
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        produced = False
        if self.first_chunk is None and chunk.get("choices"):
            self.first_chunk = now
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                self.content.append(text)
                produced = True
            if delta.get("reasoning_content") or delta.get("reasoning"):
                produced = True
            for call in delta.get("tool_calls") or ():
                index = call.get("index", 0)
                function = call.get("function") or {}
                if function.get("name"):
                    self.names[index] = function["name"]
                self.arguments.setdefault(index, []).append(function.get("arguments") or "")
                produced = True
        if produced:
            self.output_times.append(now)


async def send(
    session: aiohttp.ClientSession,
    target: Target,
    task: Task,
    *,
    level: str,
    warmup: bool,
    epoch: float,
    timeout: float,
    ignore_eos: bool = False,
) -> Sample:
    """Send `task` to `target`, streamed; never raises for the server's or the network's failures."""
    reading = _Reading()
    start = time.perf_counter()
    try:
        async with session.post(
            target.base_url + "/chat/completions",
            data=_encode(task.request(target.model, ignore_eos=ignore_eos)),
            headers={**_JSON, **target.headers()},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            if response.status != 200:
                reading.error = await _status_error(response)
            else:
                await _read(response, reading)
    except aiohttp.ClientConnectorError:
        reading.error = "connect"
    except TimeoutError:
        reading.error = "timeout"
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        reading.error = "disconnected"
    except aiohttp.ClientError as exc:
        reading.error = type(exc).__name__
    end = time.perf_counter()
    if reading.error is None and not reading.done:
        reading.error = "no_done"  # the stream ended without [DONE]
    return _sample(target, task, level, warmup, start - epoch, start, end, reading)


async def _read(response: aiohttp.ClientResponse, reading: _Reading) -> None:
    buffer = b""
    async for piece in response.content.iter_any():
        now = time.perf_counter()
        *lines, buffer = (buffer + piece).split(b"\n")
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                reading.done = True
            else:
                reading.chunk(data, now)


async def _status_error(response: aiohttp.ClientResponse) -> str:
    """`http_429`, with the API's error code when it sends one (`http_429:rate_limit_exceeded`)."""
    try:
        body = await response.json(content_type=None)
        code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
    except (ValueError, aiohttp.ClientError):
        code = None
    return f"http_{response.status}" + (f":{code}" if code else "")


def _sample(
    target: Target,
    task: Task,
    level: str,
    warmup: bool,
    offset: float,
    start: float,
    end: float,
    reading: _Reading,
) -> Sample:
    times = reading.output_times
    usage = reading.usage
    calls = tuple(
        (reading.names.get(i, ""), "".join(reading.arguments.get(i, []))) for i in sorted(reading.arguments)
    )
    return Sample(
        target=target.name,
        task=task.key,
        workload=task.workload,
        level=level,
        warmup=warmup,
        start=offset,
        e2el=end - start,
        ttft=times[0] - start if times else None,
        ttfc=reading.first_chunk - start if reading.first_chunk is not None else None,
        itl=tuple(b - a for a, b in itertools.pairwise(times)),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or len(times)),
        reasoning_tokens=int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0),
        cached_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
        chunks=reading.chunks,
        error=reading.error,
        tool_calls=calls,
        content="".join(reading.content)[:4000],
    )
