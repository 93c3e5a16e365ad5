"""GLM's releases as one table (table.py) and the lookups every consumer uses instead of a list of its own.

The lookups read `table.RELEASES` at each call, so that a test can add an invented release in one place
and see it reach every consumer. The hot ones (every hosted request makes several) answer from an index
of the table, rebuilt whenever `table.RELEASES` is another tuple.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
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


@functools.lru_cache(maxsize=4096)  # clients send the same few names over and over
def _key(name: str) -> str:
    """A name as the lookups compare it: the last path part, lower case, without a -fp8 suffix."""
    return PurePath(name).name.lower().removesuffix("-fp8")


@dataclass(frozen=True, slots=True)
class _Index:
    releases: tuple[Release, ...]  # the table it was built from
    by_key: dict[str, Release]
    hosted: tuple[str, ...]
    hosted_vision: tuple[str, ...]


_index: _Index | None = None


def _indexed() -> _Index:
    global _index
    rows = table.RELEASES
    if _index is None or _index.releases is not rows:
        by_key: dict[str, Release] = {}
        for release in rows:
            for n in (release.name, *release.hosted, *(w.repo for w in release.weights)):
                by_key.setdefault(_key(n), release)  # the first release to claim a name keeps it
        newest_first = rows[::-1]
        vision = tuple(m for r in newest_first if r.vision for m in r.hosted)
        text = tuple(m for r in newest_first if not r.vision for m in r.hosted)
        _index = _Index(rows, by_key, (*text, *vision), vision)
    return _index


def find(name: str) -> Release | None:
    """The release a model name stands for: its own name (`GLM-4.7`), a hosted id (`glm-4.7-flashx`), or
    one of its weights (`zai-org/GLM-4.6V-FP8`, `/data/GLM-4.5-Air-AWQ-4bit`), in any case."""
    return _indexed().by_key.get(_key(name))


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
    return _indexed().hosted


def hosted_vision_ids() -> tuple[str, ...]:
    """The hosted ids that take image content, newest first."""
    return _indexed().hosted_vision


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
