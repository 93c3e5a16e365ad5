"""Codex CLI itself (`codex exec`) against glm-serve's /v1/responses: it runs a shell command the model
asks for and answers from the output, on the fake backend and on the hosted backend over mock-hosted."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from parsers import render_tool_call
from server.app import create_app
from server.backends.fake import FakeBackend
from server.backends.remote.hosted import HostedBackend
from server.core.request import ChatRequest
from server.responses.seal import KEY_FILE, Seal
from server.settings import Settings
from server.standin.hosted import create_standin
from tests.conftest import live_server
from tests.integration.clients.conftest import recording

MARKER = "42-glm-marker"  # printed by `echo $((6*7))-glm-marker`: it exists only in the command's output
KEY = "0123456789abcdef0123456789abcdef.codexkey"


def run_codex(
    codex: Path,
    base: str,
    workdir: Path,
    prompt: str,
    *,
    resume: bool = False,
    mcp: tuple[str, Path] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`codex exec` (or `codex exec resume --last`, the same home kept) against `base`."""
    home = workdir / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        'model = "glm-4.7"\nmodel_provider = "glm"\n\n[model_providers.glm]\nname = "glm-serve"\n'
        f'base_url = "{base}/v1"\nwire_api = "responses"\nenv_key = "GLM_SERVE_KEY"\n'
    )
    if mcp is not None:  # an MCP server Codex starts over stdio
        config = (home / "config.toml").read_text()
        config += f'\n[mcp_servers.{mcp[0]}]\ncommand = "{sys.executable}"\nargs = ["{mcp[1]}"]\n'
        (home / "config.toml").write_text(config)
    env = {**os.environ, "CODEX_HOME": str(home), "GLM_SERVE_KEY": "unused", "NO_COLOR": "1"}
    options = ["--skip-git-repo-check", "--sandbox", "danger-full-access"]
    return subprocess.run(
        [str(codex), "exec", *options, *(["resume", "--last"] if resume else []), prompt],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def agent_script(req: ChatRequest | Any) -> str:
    """A model in a tool loop: run the marker command, then report what it printed."""
    for message in req.messages:
        if message.role == "tool" and MARKER in str(message.content):
            return f"The output is in.</think>The command printed {MARKER}."
    command = render_tool_call("exec_command", {"cmd": "echo $((6*7))-glm-marker"}, "glm47")
    return "I should run the command.</think>" + command


def test_codex_runs_the_command_the_model_asked_for(codex: Path, tmp_path: Path) -> None:
    backend = FakeBackend(agent_script, model="glm-4.7", context_length=1_000_000)
    with live_server(create_app(Settings(backend="fake"), backend)) as base:
        done = run_codex(codex, base, tmp_path, "Run the marker command and tell me what it printed.")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"The command printed {MARKER}." in done.stdout
    first, second = backend.requests
    assert isinstance(first, ChatRequest) and isinstance(second, ChatRequest)
    assert "exec_command" in {t.name for t in first.tools}
    # The second turn carries the command's output, and the first turn's reasoning came back sealed.
    (result,) = [m for m in second.messages if m.role == "tool"]
    assert MARKER in str(result.content)
    (turn,) = [m for m in second.messages if m.role == "assistant"]
    assert turn.reasoning == "I should run the command." and turn.tool_calls[0].name == "exec_command"
    assert "ERROR" not in done.stderr


@contextmanager
def hosted_glm_serve() -> Iterator[tuple[str, Any]]:
    """glm-serve's hosted backend pointed at the offline stand-in of the hosted API."""
    standin = create_standin(KEY)
    with live_server(
        standin, ready_path="/api/paas/v4/models", headers={"Authorization": f"Bearer {KEY}"}
    ) as up:
        settings = Settings(
            backend="hosted", hosted_base_url=up + "/api/paas/v4", served_model_name="glm-4.7"
        )
        with live_server(create_app(settings, HostedBackend(settings.remote, key=KEY))) as base:
            yield base, standin


def test_codex_through_the_hosted_backend_on_mock_hosted(codex: Path, tmp_path: Path) -> None:
    with hosted_glm_serve() as (base, standin):
        done = run_codex(codex, base, tmp_path, "Run a command, then tell me what it printed.")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The tool returned:" in done.stdout and "42-from-mock-hosted" in done.stdout
    first, second = standin.state.requests
    assert first["tools"][0]["function"]["name"] == "exec_command"
    assert {t["function"]["name"] for t in first["tools"]}.isdisjoint({"web_search", "multi_agent_v1"})
    tool_turns = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_turns and "42-from-mock-hosted" in tool_turns[-1]["content"]
    assert "reasoning_content" in [m for m in second["messages"] if m["role"] == "assistant"][-1]


def test_codex_resumes_a_session_across_a_restart_with_its_reasoning(codex: Path, tmp_path: Path) -> None:
    """`codex exec resume` after a restart: the reasoning items Codex sends back still verify, because
    the signing key is kept in the state directory. Under another key (another state directory) they do
    not, and the text they show stands in for them."""
    state = tmp_path / "state"

    def serve(state_dir: Path, bodies: list[dict[str, Any]]) -> tuple[FakeBackend, Any]:
        backend = FakeBackend(agent_script, model="glm-4.7", context_length=1_000_000)
        app = create_app(Settings(backend="fake", state_dir=state_dir), backend)
        return backend, live_server(recording(app, bodies))

    backend, server = serve(state, [])
    with server as base:
        done = run_codex(codex, base, tmp_path, "Run the marker command and tell me what it printed.")
    assert done.returncode == 0, done.stderr[-3000:]
    key = Seal(bytes.fromhex((state / KEY_FILE).read_text()))
    for state_dir, verifies in ((state, True), (tmp_path / "another-state", False)):
        bodies: list[dict[str, Any]] = []
        backend, server = serve(state_dir, bodies)  # a new server: the restart
        with server as base:
            again = run_codex(codex, base, tmp_path, "And what was the command?", resume=True)
        assert again.returncode == 0, again.stderr[-3000:]
        sent = [i for i in bodies[-1]["input"] if i.get("type") == "reasoning" and i.get("encrypted_content")]
        assert sent and key.open(sent[0]["encrypted_content"]) == "I should run the command."
        history = backend.requests[-1].messages
        assert "And what was the command?" in str(history[-1].content)
        first_turn = next(m for m in history if m.role == "assistant" and m.tool_calls)
        assert first_turn.reasoning == "I should run the command."  # from the seal, or from the shown text
        shown = sent[0].get("content") or sent[0].get("summary")
        if not verifies:
            assert shown, "under another key the reasoning can come only from the text the item shows"


NOTES_SERVER = Path(__file__).parent / "mcp" / "notes_server.py"


def notes_script(req: ChatRequest | Any) -> str:
    """A model that calls the MCP server's tool by the flat name it was offered, then answers from it."""
    for message in req.messages:
        if message.role == "tool" and "Tuesday" in str(message.content):
            return "Found it.</think>The launch is on Tuesday."
    return "I will look it up.</think>" + render_tool_call(
        "mcp__notes__lookup_note", {"title": "launch"}, "glm47"
    )


def test_codex_runs_an_mcp_tool_the_model_called(codex: Path, tmp_path: Path) -> None:
    """Codex offers an MCP server's tools as a namespace (`mcp__notes`): GLM sees each as one function
    of a unique flat name, and its call goes back to Codex under the tool's own name and namespace,
    which Codex runs on the MCP server."""
    backend = FakeBackend(notes_script, model="glm-4.7", context_length=1_000_000)
    with live_server(create_app(Settings(backend="fake"), backend)) as base:
        done = run_codex(
            codex, base, tmp_path, "Look up the note called launch.", mcp=("notes", NOTES_SERVER)
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The launch is on Tuesday." in done.stdout
    assert "notes/lookup_note (completed)" in done.stdout + done.stderr
    first, second = backend.requests[0], backend.requests[-1]
    assert isinstance(first, ChatRequest) and isinstance(second, ChatRequest)
    assert "mcp__notes__lookup_note" in {t.name for t in first.tools}
    call = next(m for m in second.messages if m.role == "assistant" and m.tool_calls).tool_calls[0]
    assert (call.name, call.arguments) == ("mcp__notes__lookup_note", {"title": "launch"})
    assert "the launch is on Tuesday" in str(next(m for m in second.messages if m.role == "tool").content)
