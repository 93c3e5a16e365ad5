"""`glm-serve chat` as a person uses it: typed into a terminal (tmux send-keys), read off the screen
(capture-pane), against a fake-backed server over real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.backends.fake import FakeBackend
from server.core.request import ChatRequest, CompletionRequest
from tests.fake_server import TOOL_SCRIPT, WEATHER_TOOL, fake_server

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
REASONING = "The user greets me; a friendly greeting back is the answer to give here."


def script(req: ChatRequest | CompletionRequest) -> str:
    if isinstance(req, ChatRequest) and req.tools:
        return TOOL_SCRIPT
    if isinstance(req, ChatRequest) and req.thinking.enabled is False:
        return "Hello from the fake!"
    return REASONING + "</think>Hello from the fake!"


class Terminal:
    """A tmux session running one command: keys in, screen out."""

    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        tmux(
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "40",
            " ".join(command) + "; echo chat-exited-$?; sleep 30",
        )

    def type(self, *lines: str) -> None:
        for line in lines:
            tmux("send-keys", "-t", self.name, "-l", line)
            tmux("send-keys", "-t", self.name, "Enter")

    def keys(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.name, *keys)

    def screen(self, escapes: bool = False) -> str:
        return tmux("capture-pane", "-t", self.name, "-p", *(["-e"] if escapes else []))

    def wait(self, found: Callable[[str], bool], timeout: float = 20, escapes: bool = False) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen(escapes)
            if found(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"not on the screen within {timeout} s:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def server() -> Iterator[tuple[str, FakeBackend]]:
    # A piece every 40 ms: the reasoning streams for a second or two, long enough to see it.
    with fake_server(script, delay=0.04) as served:
        yield served


def chat(name: str, base: str, *flags: str) -> Terminal:
    return Terminal(name, [sys.executable, "-m", "server", "chat", "--url", base, *flags])


def test_a_conversation_with_reasoning_folded_thinking_switched_and_several_lines(
    server: tuple[str, FakeBackend],
) -> None:
    base, backend = server
    term = chat("glm-chat-a", base)
    try:
        term.wait(lambda s: "glm-test at" in s and ">>>" in s)
        term.type("hello")
        # While it thinks: the reasoning on screen, dimmed (SGR 2).
        live = term.wait(lambda s: "greets me" in s, escapes=True)
        assert "\x1b[2m" in live
        done = term.wait(lambda s: "Hello from the fake!" in s)
        # Then folded into one line.
        assert "greets me" not in done and "▸ thought for" in done and "/show to read" in done
        assert "tokens in" in done
        term.type("/show")
        term.wait(lambda s: REASONING in s.replace("\n", ""))
        term.type("/thinking off", "again")
        term.wait(lambda s: s.count("Hello from the fake!") == 2)
        asked = backend.requests[-1]
        assert isinstance(asked, ChatRequest) and asked.thinking.enabled is False
        assert term.screen().count("▸ thought for") == 1  # nothing thought, nothing folded
        assert [m.content for m in asked.messages if m.role == "user"] == ["hello", "again"]
        # Several lines: a fenced block and a continued line.
        term.type('"""', "line one", 'line two"""')
        term.wait(lambda s: s.count("Hello from the fake!") == 3)
        term.type("first \\", "second")
        term.wait(lambda s: s.count("Hello from the fake!") == 4)
        users = [m.content for m in backend.requests[-1].messages if m.role == "user"]  # type: ignore[union-attr]
        assert users[-2:] == ["line one\nline two", "first \nsecond"]
        term.type("/clear", "fresh")
        term.wait(lambda s: s.count("Hello from the fake!") == 5)
        fresh = backend.requests[-1]
        assert isinstance(fresh, ChatRequest) and len(fresh.messages) == 1
        term.keys("C-d")
        term.wait(lambda s: "chat-exited-0" in s)
    finally:
        term.close()


def test_tool_calls_are_shown_and_answered_as_not_run(
    server: tuple[str, FakeBackend], tmp_path: Path
) -> None:
    base, backend = server
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER_TOOL]))
    term = chat("glm-chat-b", base, "--tools", str(tools))
    try:
        term.wait(lambda s: ">>>" in s)
        term.type("weather in Paris and Tokyo?")
        screen = term.wait(lambda s: "the chat runs no tools" in s)
        assert '⚙ get_weather({"city": "Paris", "days": 2})' in screen
        assert "Checking both." in screen
        term.type("thanks")
        term.wait(lambda s: s.count("the chat runs no tools") == 2)
        history = backend.requests[-1]
        assert isinstance(history, ChatRequest)
        assert [m.role for m in history.messages] == ["user", "assistant", "tool", "tool", "user"]
    finally:
        term.close()


def test_a_server_that_is_not_there_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "chat", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("glm-serve chat: cannot reach http://127.0.0.1:9")
    assert done.stderr.count("\n") == 1
