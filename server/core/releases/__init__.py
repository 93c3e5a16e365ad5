"""GLM's releases as one table (table.py) and the lookups every consumer uses instead of a list of its own.

The lookups read `table.RELEASES` at each call, so that a test can add an invented release in one place
and see it reach every consumer.
"""

from __future__ import annotations

from pathlib import PurePath

from parsers import LayoutName

from . import table
from .release import Release, ThinkingPolicy, Weights

__all__ = [
    "Release",
    "ThinkingPolicy",
    "Weights",
    "all_releases",
    "by_architecture",
    "efforts_for",
    "find",
    "hosted_ids",
    "hosted_vision_ids",
    "layout_for",
    "weights_named",
]


def all_releases() -> tuple[Release, ...]:
    return table.RELEASES


def _key(name: str) -> str:
    """A name as the lookups compare it: the last path part, lower case, without a -fp8 suffix."""
    return PurePath(name).name.lower().removesuffix("-fp8")


def find(name: str) -> Release | None:
    """The release a model name stands for: its own name (`GLM-4.7`), a hosted id (`glm-4.7-flashx`), or
    one of its weights (`zai-org/GLM-4.6V-FP8`, `/data/GLM-4.5-Air-AWQ-4bit`), in any case."""
    key = _key(name)
    for release in table.RELEASES:
        names = (release.name, *release.hosted, *(w.repo for w in release.weights))
        if key in {_key(n) for n in names}:
            return release
    return None


def weights_named(repo: str) -> tuple[Release, Weights] | None:
    """The release and checkpoint a hub repo id names exactly (`zai-org/GLM-4.7-FP8`)."""
    for release in table.RELEASES:
        for weights in release.weights:
            if weights.repo == repo:
                return release, weights
    return None


def by_architecture(architecture: str) -> tuple[Release, ...]:
    return tuple(r for r in table.RELEASES if r.architecture == architecture)


def hosted_ids() -> tuple[str, ...]:
    """The hosted API's chat model ids: text models, then vision models, each newest first."""
    newest_first = table.RELEASES[::-1]
    text = [m for r in newest_first if not r.vision for m in r.hosted]
    return (*text, *hosted_vision_ids())


def hosted_vision_ids() -> tuple[str, ...]:
    """The hosted ids that take image content, newest first."""
    return tuple(m for r in table.RELEASES[::-1] if r.vision for m in r.hosted)


def _rows_like(thinking: ThinkingPolicy, architecture: str | None) -> list[Release]:
    """The open-weights releases whose template handles thinking as `thinking`, narrowed to
    `architecture` when releases of it are known."""
    rows = [r for r in table.RELEASES if r.thinking == thinking and r.architecture is not None]
    return [r for r in rows if r.architecture == architecture] or rows


def layout_for(thinking: ThinkingPolicy, architecture: str | None = None) -> LayoutName | None:
    """The output layout of the releases whose template handles thinking as `thinking` (narrowed to
    `architecture` when releases of it are known); None when they disagree or none matches."""
    layouts = {r.layout for r in _rows_like(thinking, architecture)}
    return layouts.pop() if len(layouts) == 1 else None


def efforts_for(thinking: ThinkingPolicy, architecture: str | None = None) -> tuple[str, ...]:
    """The reasoning_effort levels those releases read, where they agree (else none known)."""
    efforts = {r.efforts for r in _rows_like(thinking, architecture)}
    return efforts.pop() if len(efforts) == 1 else ()
