"""Workloads: the requests a bench run sends, from the bundled, versioned JSONL files or the user's own.

    chat    short questions and long documents to summarise (workloads/chat-v1.jsonl)
    agent   a coding-assistant turn: a long system prompt, eight tools, a growing tool-call history; the
            requests share their prefix, so a server with prefix caching answers the later ones faster
    tools   function-calling tasks with the tool and arguments expected (shell, file edits, search,
            weather, calculator, a tool without arguments, nested objects, arrays, enums)
    custom  --custom FILE: one JSON request body per line (messages, tools, max_tokens …)

Each line holds `messages`, optional `tools`, `max_tokens` and, for scoring, `expect`
(`{"tool": name, "arguments": {...}}`, see scoring.py). A request runs with thinking on, off, or both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .targets import BenchError

BUNDLED = Path(__file__).resolve().parent / "workloads"
VERSIONS = {"chat": "chat-v1", "agent": "agent-v1", "tools": "tools-v1"}
NAMES = (*VERSIONS, "custom")


@dataclass(frozen=True, slots=True)
class Task:
    """One request of a workload, with thinking on or off."""

    workload: str
    id: str
    body: Mapping[str, Any]  # messages, tools, max_tokens and any other request fields
    thinking: bool
    expect: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.workload}/{self.id}/{'think' if self.thinking else 'nothink'}"

    def request(self, model: str, *, ignore_eos: bool = False) -> dict[str, Any]:
        """The streamed chat request for a model. Thinking is switched both ways servers read it: the
        hosted API's (and glm-serve's) `thinking`, and vLLM's `chat_template_kwargs`."""
        body = {k: v for k, v in self.body.items() if k != "expect"}
        body.update(
            model=model,
            stream=True,
            stream_options={"include_usage": True},
            thinking={"type": "enabled" if self.thinking else "disabled"},
            chat_template_kwargs={"enable_thinking": self.thinking},
        )
        if ignore_eos:
            body["ignore_eos"] = True
        return body


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    version: str
    tasks: tuple[Task, ...] = field(default_factory=tuple)


def load(
    name: str, thinking: Sequence[bool], custom: Path | None = None, max_tokens: int | None = None
) -> Workload:
    if name == "custom":
        if custom is None:
            raise BenchError("--workload custom needs --custom FILE (one JSON request body per line)")
        path, version = custom, f"custom:{custom.name}"
    elif name in VERSIONS:
        path, version = BUNDLED / f"{VERSIONS[name]}.jsonl", VERSIONS[name]
    else:
        raise BenchError(f"unknown workload {name!r}; choose from {', '.join(NAMES)}")
    tasks = []
    for n, record in enumerate(_records(path)):
        body = dict(record)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        expect = body.pop("expect", None)
        ident = str(body.pop("id", n + 1))
        tasks += [Task(name, ident, body, t, expect) for t in thinking]
    if not tasks:
        raise BenchError(f"workload {name} ({path}) has no requests")
    return Workload(name, version, tuple(tasks))


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise BenchError(f"cannot read workload file {path}: {exc.strerror}") from exc
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
            raise BenchError(f"{path}:{number}: a request needs a `messages` list")
        records.append(record)
    return records
