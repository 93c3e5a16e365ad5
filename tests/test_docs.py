"""The README and docs/ as a user reads them: every shell block runs as written against the demo, every
`glm-serve` line parses, and the preset table says what the plan computes."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server import plan as plan_command
from server.__main__ import parser
from server.backends.local.sizing.gpus import parse_gpus

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"(?:^<!-- snippet: (?P<mark>[a-z ]+) -->\n)?^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.S | re.M
)
SHELL = {"bash", "sh", "shell"}
SKIPS = {"skip gpu", "skip internet"}  # the only reasons a block may give for not running here


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    mark: str | None
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(page, text.count("\n", 0, m.start("body")) + 1, m["mark"], m["body"])
        for m in FENCE.finditer(text)
        if m["lang"] in SHELL
    ]


def commands(body: str) -> Iterator[list[str]]:
    """Each `glm-serve …` command of a block, as argv (continuations joined, comments and the variables
    set before it dropped)."""
    for line in body.replace("\\\n", " ").splitlines():
        for part in re.split(r"\s(?:&&|\|\||;)\s", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words.pop(0)
            if words[:1] == ["glm-serve"]:
                yield words


def test_every_page_has_its_shell_blocks_marked_only_for_a_gpu_or_the_internet() -> None:
    found = [b for page in PAGES for b in blocks(page)]
    assert len(PAGES) >= 8 and len(found) >= 25
    for block in found:
        assert block.mark in (None, "server", *SKIPS), f"{block}: unknown mark {block.mark!r}"
    # A floor, so that a runner that found nothing to run could not pass.
    assert len([b for b in found if b.mark not in SKIPS]) >= 10


def test_every_glm_serve_line_in_the_docs_parses() -> None:
    """Skipped blocks too: a flag renamed or a command gone fails here."""
    checked = 0
    for page in PAGES:
        for block in blocks(page):
            for argv in commands(block.body):
                try:
                    parser().parse_args(argv[1:])
                except SystemExit as exc:
                    pytest.fail(f"{block}: `{shlex.join(argv)}` does not parse ({exc})")
                checked += 1
    assert checked >= 20  # a floor: the parsing above found the commands


def test_the_readmes_preset_table_is_what_the_plan_computes() -> None:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| preset | weights | sized for | context there |") :].split("\n\n")[0]
    rows = [row.split("|")[1:-1] for row in table.splitlines()[2:]]
    named = 0
    for preset_cell, _, card, context_cell in rows:
        names = re.findall(r"`([^`]+)`", preset_cell)
        count, memory = re.match(r"\s*(\d+) \u00d7 (\d+) GB", card).groups()  # type: ignore[union-attr]
        contexts = [int(c.replace(",", "")) for c in re.findall(r"[\d,]{5,}", context_cell)]
        contexts = contexts * len(names) if len(contexts) == 1 else contexts
        for name, context in zip(names, contexts, strict=True):
            row = plan_command.rows_for(parse_gpus(f"{count}x{memory}GB"), [name])[0]
            assert row.fit is not None and row.fit.fits, f"{name} does not fit {card}: {row.fit}"
            assert row.fit.context == context, f"{name} on {card}: the plan gives {row.fit.context}"
            named += 1
    # Every preset but the demo is in the table.
    assert named == len(plan_command.bundled.names()) - 1


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    # curl as the snippets write it (-s) says nothing of an HTTP error: here every 4xx/5xx fails the block.
    (tmp_path / ".curlrc").write_text("fail-with-body\nmax-time = 120\n")
    unset = ("BIGMODEL_API_KEY", "ZAI_API_KEY", "GLM_SERVE_API_KEY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return env | {"PATH": f"{ROOT / '.venv' / 'bin'}:{env['PATH']}", "CURL_HOME": str(tmp_path)}


@pytest.mark.engine
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_shell_block_runs_as_written(page: Path, shell_env: dict[str, str], tmp_path: Path) -> None:
    servers: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for block in blocks(page):
            if block.mark in SKIPS:
                continue
            if block.mark == "server":
                servers.append(_start(block, shell_env, tmp_path / f"server-{block.line}.log"))
                continue
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.body],
                cwd=ROOT,
                env=shell_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"{block} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    finally:
        for proc, _ in servers:
            _stop(proc)


def _start(block: Block, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A block that starts a server: in the background until its /health answers (a stand-in's 404 too)."""
    port = int(m[1]) if (m := re.search(r"--port (\d+)", block.body)) else 8000
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", block.body], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{block}: the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code != 503:
                return proc, log
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    _stop(proc)
    pytest.fail(f"{block}: not ready in 600 s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
