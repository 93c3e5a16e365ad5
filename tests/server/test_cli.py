"""The command line teaches: a version, every command and flag described, examples on every command."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from server.__main__ import parser


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"glm-serve {version('glm-serve')}"


def test_every_command_and_flag_is_described_with_examples() -> None:
    found = commands()
    assert {"serve", "chat", "plan", "bench", "doctor", "download", "verify", "mock-hosted"} <= set(found)
    top = parser().format_help()
    for name, command in found.items():
        assert name in top
        text = command.format_help()
        assert "examples:" in text and f"glm-serve {name}" in text.split("examples:")[1], name
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest}"
