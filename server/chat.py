"""`glm-serve chat`: a conversation with a running server in this terminal, as `ollama run` offers.

A client of the OpenAI chat API (any server of it, glm-serve's or not), over the standard library's HTTP:
answers stream as they are written; reasoning streams dimmed and then folds into one line (/show unfolds
the last); tool calls are shown (and not run: the chat has no tools of its own, --tools only lets a
model ask for some). Type /help for the commands; three double quotes open and close a multi-line
message, as a trailing backslash continues one. Ctrl-C stops an answer; Ctrl-D leaves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

HELP = """\
/thinking on|off   think before answering, or answer at once (now: {thinking})
/show              the last answer's reasoning, in full
/clear             start a new conversation
/help              this list
/bye               leave (or Ctrl-D)
Multi-line: start and end with \"\"\", or end a line with \\ to go on."""


class ChatError(Exception):
    """The server cannot be talked to, or refused a request: one line to show."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="the server (default: http://127.0.0.1:8000)"
    )
    parser.add_argument("--model", help="the model to ask for (default: the server's first)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("GLM_SERVE_API_KEY"),
        help="the server's key (default: $GLM_SERVE_API_KEY)",
    )
    parser.add_argument("--system", help="a system message to start the conversation with")
    parser.add_argument(
        "--no-thinking", dest="thinking", action="store_false", help="start with thinking off"
    )
    parser.add_argument(
        "--tools", type=Path, help="a JSON file of OpenAI tool definitions the model may call"
    )
    parser.add_argument("--max-tokens", type=int, help="the longest answer to ask for")


@dataclass
class Turn:
    """What one answer held, gathered from its stream."""

    reasoning: str = ""
    content: str = ""
    calls: dict[int, dict[str, str]] = field(default_factory=dict)  # index -> id, name, arguments
    usage: dict[str, Any] = field(default_factory=dict)
    thought_seconds: float = 0.0


class Client:
    """The server's chat API, over urllib: a request, and the stream of its chunks."""

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def _open(self, path: str, body: dict[str, Any] | None = None, timeout: float = 600) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers)
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise ChatError(f"HTTP {exc.code}: {_error_message(exc.read())}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChatError(f"cannot reach {self.url} ({reason}); is `glm-serve serve` running?") from exc

    def models(self) -> list[str]:
        with self._open("/v1/models", timeout=10) as response:
            return [m["id"] for m in json.load(response)["data"]]

    def stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self._open("/v1/chat/completions", body) as response:
            for raw in response:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise ChatError(_error_message(data.encode()))
                yield chunk


def _error_message(body: bytes) -> str:
    try:
        error = json.loads(body).get("error")
        return str(error.get("message") if isinstance(error, dict) else error)
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


class Chat:
    """The conversation and the terminal it is shown on."""

    def __init__(self, client: Client, model: str, args: argparse.Namespace, console: Console) -> None:
        self.client, self.model, self.console = client, model, console
        self.thinking: bool = args.thinking
        self.max_tokens: int | None = args.max_tokens
        self.tools: list[dict[str, Any]] = json.loads(args.tools.read_text()) if args.tools else []
        self.system: str | None = args.system
        self.messages: list[dict[str, Any]] = []
        self.last_reasoning = ""
        self.clear()

    def clear(self) -> None:
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def command(self, line: str) -> bool:
        """Run a /command; False when it asks to leave."""
        name, _, rest = line.partition(" ")
        if name in ("/bye", "/exit", "/quit"):
            return False
        if name == "/thinking" and rest.strip() in ("on", "off"):
            self.thinking = rest.strip() == "on"
            self.console.print(f"thinking {'on' if self.thinking else 'off'}", style="dim")
        elif name == "/show":
            self.console.print(self.last_reasoning or "(no reasoning in the last answer)", style="dim")
        elif name == "/clear":
            self.clear()
            self.console.print("a new conversation", style="dim")
        else:
            self.console.print(HELP.format(thinking="on" if self.thinking else "off"), highlight=False)
        return True

    def ask(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            # The hosted API's switch; glm-serve and vLLM's GLM template read it too.
            "thinking": {"type": "enabled" if self.thinking else "disabled"},
            "chat_template_kwargs": {"enable_thinking": self.thinking},
        }
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        if self.tools:
            body["tools"] = self.tools
        began = time.monotonic()
        try:
            turn = self._show(self.client.stream(body))
        except KeyboardInterrupt:
            self.messages.pop()
            self.console.print("\n(stopped)", style="dim")
            return
        except ChatError:
            self.messages.pop()
            raise
        self._remember(turn)
        tokens = turn.usage.get("completion_tokens")
        took = time.monotonic() - began
        if tokens:
            self.console.print(f"{tokens} tokens in {took:.1f} s", style="dim", highlight=False)

    def _show(self, chunks: Iterator[dict[str, Any]]) -> Turn:
        turn = Turn()
        began = time.monotonic()
        live: Live | None = None
        try:
            for chunk in chunks:
                turn.usage = chunk.get("usage") or turn.usage
                for choice in chunk.get("choices", ()):
                    delta = choice.get("delta") or {}
                    if thought := delta.get("reasoning_content") or delta.get("reasoning"):
                        if live is None:
                            # Transient: the reasoning is shown while it streams, then folded away.
                            live = Live(console=self.console, transient=True, refresh_per_second=12)
                            live.start()
                        turn.reasoning += thought
                        live.update(Text(_tail(turn.reasoning, self.console.height // 2), style="dim"))
                    if content := delta.get("content"):
                        if live is not None:
                            self._fold(live, turn, began)
                            live = None
                        turn.content += content
                        self.console.print(content, end="", highlight=False, markup=False)
                    for call in delta.get("tool_calls") or ():
                        slot = turn.calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                        function = call.get("function") or {}
                        slot["id"] = call.get("id") or slot["id"]
                        slot["name"] += function.get("name") or ""
                        slot["arguments"] += function.get("arguments") or ""
        finally:
            if live is not None:
                self._fold(live, turn, began)
        if turn.content:
            self.console.print()
        for call in turn.calls.values():
            self.console.print(f"⚙ {call['name']}({call['arguments']})", style="cyan", highlight=False)
        if turn.calls:
            self.console.print("(the chat runs no tools: each call is answered as not run)", style="dim")
        return turn

    def _fold(self, live: Live, turn: Turn, began: float) -> None:
        live.stop()
        turn.thought_seconds = time.monotonic() - began
        words = len(turn.reasoning.split())
        self.console.print(
            f"▸ thought for {turn.thought_seconds:.1f} s ({words} words; /show to read)", style="dim"
        )

    def _remember(self, turn: Turn) -> None:
        self.last_reasoning = turn.reasoning
        answer: dict[str, Any] = {"role": "assistant", "content": turn.content}
        if turn.calls:
            answer["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in turn.calls.values()
            ]
        self.messages.append(answer)
        for call in turn.calls.values():
            self.messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": "not run: this chat runs no tools"}
            )


def _tail(text: str, lines: int) -> str:
    """The last lines of what is streaming: the live region stays the terminal's size."""
    kept = text.splitlines()[-max(lines, 3) :]
    return "\n".join(kept)


def read_message(prompt: str = ">>> ") -> str:
    """One message: a line; lines while each ends in a backslash; or a \"\"\"-fenced block."""
    first = input(prompt)
    if first.strip().startswith('"""'):
        body = first.strip()[3:]
        if body.endswith('"""'):
            return body[:-3]
        lines = [body] if body else []
        while True:
            line = input("... ")
            if line.rstrip().endswith('"""'):
                lines.append(line.rstrip()[:-3])
                return "\n".join(lines).strip("\n")
            lines.append(line)
    lines = [first]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        lines.append(input("... "))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    client = Client(args.url, args.api_key)
    try:
        model = args.model or next(iter(client.models()), None)
        if model is None:
            raise ChatError(f"{client.url} serves no model")
    except ChatError as exc:
        print(f"glm-serve chat: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    chat = Chat(client, model, args, console)
    console.print(f"{model} at {client.url} — /help for commands, Ctrl-D to leave", style="dim")
    while True:
        try:
            text = read_message()
        except EOFError:
            console.print()
            return 0
        except KeyboardInterrupt:
            console.print()
            continue
        if not text.strip():
            continue
        if text.startswith("/"):
            if not chat.command(text.strip()):
                return 0
            continue
        try:
            chat.ask(text)
        except ChatError as exc:
            console.print(f"error: {exc}", style="red")
