"""llm-comply 0.5.0, the Open Responses compliance suite, against /v1/responses on the fake backend.

scripts/setup installs it into its own venv (.cache/llm-comply): it is a test tool, not a dependency.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.fake_server import fake_server

COMPLY = ROOT / ".cache" / "llm-comply" / "bin" / "llm-comply"
KEY = "comply-key"
# OpenAI streams reasoning as response.reasoning_text.delta/.done, which Codex and OpenAI's SDKs read; the
# Open Responses specification names them response.reasoning.delta/.done. We keep OpenAI's names, so the
# suite calls ours unknown: its only complaint about the streaming tests (checked below).
OPENAI_EVENT_NAMES = "unknown SSE event type: response.reasoning_text."
# Skipped by the suite itself: it runs this test only for model names it knows reason (o1, gpt-5, …).
SKIPPED = {"reasoning-summary"}


def comply(base: str, *args: str) -> dict[str, dict[str, Any]]:
    """Each test's result by id."""
    if not COMPLY.exists():
        pytest.fail(f"{COMPLY} is missing: run scripts/setup, which installs llm-comply")
    done = subprocess.run(
        [str(COMPLY), "-u", base + "/v1", "-k", KEY, "-m", "glm-test", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    return {r["id"]: r for r in report["results"]}


def test_every_test_passes_on_a_vision_capable_fake() -> None:
    """13 tests: the suite's response-object schema, lifecycle and sequence numbers, a forced tool call
    (the fake honours tool_choice required), an inline image, the compaction endpoint, error shapes."""
    with fake_server("Counting.</think>1, 2, 3, 4, 5.", api_key=KEY, vision=True) as (base, _):
        results = comply(base, "-i", OPENAI_EVENT_NAMES)
    assert len(results) == 13
    failed = {i: r.get("errors") for i, r in results.items() if r["status"] == "failed"}
    assert failed == {}
    assert {i for i, r in results.items() if r["status"] == "skipped"} == SKIPPED
    assert "o-series or gpt-5" in results["reasoning-summary"]["errors"][0]
    # The compaction endpoint's checks are advisory (warnings) in the suite: ours has none.
    assert not results["compact-response"].get("warnings")


def test_the_streaming_tests_fail_only_on_openais_event_names() -> None:
    with fake_server("Counting.</think>1, 2, 3.", api_key=KEY) as (base, _):
        results = comply(base, "-f", "streaming-response,streaming-usage")
    for result in results.values():
        assert result["status"] == "failed"
        assert {e for e in result["errors"]} == {
            "unknown SSE event type: response.reasoning_text.delta",
            "unknown SSE event type: response.reasoning_text.done",
        }


def test_an_image_on_a_text_only_model_is_the_expected_failure() -> None:
    """The suite expects any model to take its image; a text-only one answers a clear 400 instead."""
    with fake_server(api_key=KEY) as (base, _):
        results = comply(base, "-f", "image-input", "-v")
    result = results["image-input"]
    assert result["status"] == "failed"
    assert "HTTP 400 (expected [200])" in result["errors"]
