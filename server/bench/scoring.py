"""Tool-call quality on the `tools` workload, and how often two targets choose the same tool.

Each answer is judged four ways, each implied by the one before:
    parseable      it made a tool call whose arguments are a JSON object
    schema-valid   to a declared tool, with arguments valid for that tool's JSON schema
    right tool     the expected tool (the first call is the one judged)
    right args     every expected argument has the expected value
Expected values compare loosely where models legitimately differ: strings ignore case and whitespace
("17 * 23" is "17*23"), `{"$contains": "paris"}` accepts "Paris, France", arrays of plain values ignore
order, and numbers compare as numbers (19 is 19.0). Arguments the task does not name are not judged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import jsonschema

from .client import Sample
from .workloads import Task

CHECKS = ("parseable", "schema_valid", "right_tool", "right_args")


@dataclass(frozen=True, slots=True)
class Verdict:
    parseable: bool = False
    schema_valid: bool = False
    right_tool: bool = False
    right_args: bool = False
    tool: str | None = None  # the tool the answer called first


def judge(sample: Sample, task: Task) -> Verdict:
    if not sample.ok or not sample.tool_calls or task.expect is None:
        return Verdict()
    name, raw = sample.tool_calls[0]
    try:
        args = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return Verdict(tool=name)
    if not isinstance(args, dict):
        return Verdict(tool=name)
    schemas = {
        t["function"]["name"]: t["function"].get("parameters") or {} for t in task.body.get("tools", ())
    }
    valid = name in schemas and _valid(args, schemas[name])
    right_tool = valid and name == task.expect["tool"]
    right_args = right_tool and matches(task.expect.get("arguments") or {}, args)
    return Verdict(True, valid, right_tool, right_args, name)


def _valid(args: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    try:
        jsonschema.validate(args, schema)
    except jsonschema.ValidationError:
        return False
    except jsonschema.SchemaError:
        return True  # the workload's schema is at fault, not the answer
    return True


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and set(expected) == {"$contains"}:
        return isinstance(actual, str) and _norm(expected["$contains"]) in _norm(actual)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        if all(not isinstance(x, dict | list) for x in expected):
            return Counter(map(_key, expected)) == Counter(map(_key, actual))
        return all(matches(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, str):
        return isinstance(actual, str) and _norm(expected) == _norm(actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and float(expected) == float(actual)
    return bool(expected == actual)


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


def _key(value: Any) -> Any:
    return (
        _norm(value) if isinstance(value, str) else float(value) if isinstance(value, int | float) else value
    )


def quality(samples: Iterable[Sample], tasks: Mapping[str, Task]) -> dict[str, dict[str, Any]]:
    """Per target: how many answers were judged, and the share passing each check."""
    counts: dict[str, Counter[str]] = {}
    for sample in samples:
        task = tasks.get(sample.task)
        if task is None or task.expect is None:
            continue
        verdict = judge(sample, task)
        tally = counts.setdefault(sample.target, Counter())
        tally["answers"] += 1
        for check in CHECKS:
            tally[check] += getattr(verdict, check)
    return {
        target: {"answers": t["answers"], **{c: t[c] / t["answers"] for c in CHECKS}}
        for target, t in counts.items()
    }


def agreement(samples: Iterable[Sample], tasks: Mapping[str, Task], targets: Sequence[str]) -> dict[str, Any]:
    """For each pair of targets: the share of tasks both answered where they called the same first tool."""
    chosen: dict[str, dict[str, str | None]] = {}
    for sample in samples:
        task = tasks.get(sample.task)
        if task is not None and task.expect is not None and sample.ok:
            chosen.setdefault(sample.target, {}).setdefault(sample.task, judge(sample, task).tool)
    pairs: dict[str, Any] = {}
    for a, b in combinations(targets, 2):
        shared = set(chosen.get(a, {})) & set(chosen.get(b, {}))
        same = sum(chosen[a][k] == chosen[b][k] for k in shared)
        pairs[f"{a} vs {b}"] = {"tasks": len(shared), "same_tool": same / len(shared) if shared else None}
    return pairs
