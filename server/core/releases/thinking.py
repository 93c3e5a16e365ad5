"""A request's thinking as a release can do it: effort in the levels its template reads, off where it can be.

GLM-5.3 and 5.3-Flash always think (their template has no switch; the hosted API refuses `thinking:
disabled` for them): thinking off becomes their lowest effort. An effort a release lacks becomes the
highest it has that is not more than the one asked, so a request never gets more thinking than it asked
for where a lower level exists. Every backend applies the same rule, and says when it changed something.
"""

from __future__ import annotations

from dataclasses import replace

from ..request import Thinking
from .release import Release, ThinkingPolicy

# reasoning_effort levels from least to most, in every spelling the wires use.
EFFORT_ORDER = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def fit(thinking: Thinking, policy: ThinkingPolicy, efforts: tuple[str, ...]) -> tuple[Thinking, str | None]:
    """`thinking` as a release of `policy` reading `efforts` can do it, and a note (for a response header)
    when that differs from what was asked."""
    if policy == "always" and thinking.enabled is False:
        if not efforts:
            return replace(thinking, enabled=None), "this model always thinks"
        return (
            replace(thinking, enabled=None, effort=efforts[0]),
            f"this model always thinks; thinking off became its lowest effort, {efforts[0]}",
        )
    asked = thinking.effort
    if asked is None or not efforts or asked in efforts:
        return thinking, None
    level = nearest_effort(asked, efforts)
    return replace(
        thinking, effort=level
    ), f"reasoning effort {asked} became {level}, the nearest this model has"


def nearest_effort(asked: str, efforts: tuple[str, ...]) -> str:
    """The highest of `efforts` not above `asked`, else the lowest of them (an unknown level: the lowest)."""
    rank = {level: i for i, level in enumerate(EFFORT_ORDER)}
    ranked = sorted(efforts, key=lambda level: rank.get(level, 0))
    if asked not in rank:
        return ranked[0]
    below = [level for level in ranked if rank.get(level, 0) <= rank[asked]]
    return below[-1] if below else ranked[0]


def fit_for(thinking: Thinking, release: Release | None) -> tuple[Thinking, str | None]:
    """fit() for a release row (None: a model no row names, left as asked)."""
    if release is None:
        return thinking, None
    return fit(thinking, release.thinking, release.efforts)
