"""The import-direction rules hold (the same check scripts/check runs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_layers_import_only_downward() -> None:
    path = Path(__file__).resolve().parent.parent / "scripts" / "check_layers.py"
    spec = importlib.util.spec_from_file_location("check_layers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.violations() == []


def test_parsers_public_surface() -> None:
    import parsers

    for name in (
        "GlmParser",
        "parse",
        "ReasoningDelta",
        "TextDelta",
        "ToolCallStart",
        "ToolArgsDelta",
        "ToolCallEnd",
    ):
        assert name in parsers.__all__
        assert getattr(parsers, name)
