"""Tool-call scoring on hand-made right and wrong answers, and agreement between targets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.bench.client import Sample
from server.bench.scoring import agreement, judge, matches, quality
from server.bench.workloads import Task, load

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
TASK = Task(
    "tools",
    "weather",
    {"messages": [], "tools": [WEATHER, TIME]},
    False,
    {"tool": "get_weather", "arguments": {"city": {"$contains": "paris"}, "unit": "celsius", "days": 5}},
)


def answer(*calls: tuple[str, Any], error: str | None = None, target: str = "a") -> Sample:
    encoded = tuple((n, a if isinstance(a, str) else json.dumps(a)) for n, a in calls)
    return Sample(target, TASK.key, "tools", "c=1", False, 0.0, 1.0, error=error, tool_calls=encoded)


@pytest.mark.parametrize(
    ("sample", "verdict"),
    [
        (answer(("get_weather", {"city": "Paris", "unit": "celsius", "days": 5})), (1, 1, 1, 1)),
        (answer(("get_weather", {"city": "Paris, France", "unit": "celsius", "days": 5.0})), (1, 1, 1, 1)),
        (
            answer(("get_weather", {"city": " PARIS", "unit": "celsius", "days": 5, "note": "x"})),
            (1, 1, 1, 1),
        ),
        (answer(("get_weather", {"city": "Lyon", "unit": "celsius", "days": 5})), (1, 1, 1, 0)),
        (
            answer(("get_weather", {"city": "Paris", "unit": "kelvin", "days": 5})),
            (1, 0, 0, 0),
        ),  # not in enum
        (answer(("get_weather", {"city": "Paris", "days": 5})), (1, 0, 0, 0)),  # unit is required
        (answer(("get_weather", {"city": "Paris", "unit": "celsius"})), (1, 1, 1, 0)),  # days expected
        (answer(("get_time", {})), (1, 1, 0, 0)),
        (answer(("get_forecast", {"city": "Paris"})), (1, 0, 0, 0)),  # not a declared tool
        (answer(("get_weather", '{"city": "Par')), (0, 0, 0, 0)),
        (answer(("get_weather", "[1, 2]")), (0, 0, 0, 0)),
        (answer(), (0, 0, 0, 0)),  # answered in prose
        (
            answer(("get_weather", {"city": "Paris", "unit": "celsius", "days": 5}), error="no_done"),
            (0, 0, 0, 0),
        ),
        (
            answer(("get_time", {}), ("get_weather", {"city": "Paris", "unit": "celsius", "days": 5})),
            (1, 1, 0, 0),
        ),
    ],
)
def test_judge(sample: Sample, verdict: tuple[int, int, int, int]) -> None:
    got = judge(sample, TASK)
    assert (got.parseable, got.schema_valid, got.right_tool, got.right_args) == tuple(map(bool, verdict))


def test_matching_rules() -> None:
    assert matches("17 * 23 + 4", "17*23+4")
    assert matches(["bug", "urgent"], ["urgent", "bug"])
    assert not matches(["bug", "urgent"], ["bug"])
    assert matches(
        {"date": "2026-12-10", "time": "14:00"}, {"date": "2026-12-10", "time": "14:00", "tz": "x"}
    )
    assert not matches({"date": "2026-12-10"}, {"time": "14:00"})
    assert matches(19, 19.0) and not matches(19, "19") and not matches(True, 1)
    assert matches({"$contains": "good morning"}, "Good  Morning, friend")


def test_quality_shares_and_agreement() -> None:
    right = {"city": "Paris", "unit": "celsius", "days": 5}
    samples = [
        answer(("get_weather", right), target="a"),
        answer(("get_time", {}), target="b"),
    ]
    tasks = {TASK.key: TASK}
    shares = quality(samples, tasks)
    assert shares["a"] == {
        "answers": 1,
        "parseable": 1.0,
        "schema_valid": 1.0,
        "right_tool": 1.0,
        "right_args": 1.0,
    }
    assert shares["b"]["right_tool"] == 0.0 and shares["b"]["schema_valid"] == 1.0
    assert agreement(samples, tasks, ["a", "b"]) == {"a vs b": {"tasks": 1, "same_tool": 0.0}}
    same = [*samples[:1], answer(("get_weather", {"city": "x", "unit": "celsius"}), target="b")]
    assert agreement(same, tasks, ["a", "b"])["a vs b"]["same_tool"] == 1.0


def test_every_bundled_expectation_is_met_by_its_own_reference_answer() -> None:
    """Each tools task, answered with exactly what it expects, scores right on every check."""
    from server.standin.reply import _concrete  # the stand-in's reading of an expectation

    work = load("tools", [False])
    assert len(work.tasks) >= 30
    for task in work.tasks:
        assert task.expect is not None
        call = (task.expect["tool"], _concrete(task.expect["arguments"]))
        verdict = judge(
            Sample(
                "a", task.key, "tools", "c=1", False, 0.0, 1.0, tool_calls=((call[0], json.dumps(call[1])),)
            ),
            task,
        )
        assert verdict.right_args, task.id
