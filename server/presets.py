"""Presets: the bundled YAML settings of each GLM deployment (configs/), shipped inside the package.

In the source tree `server/presets` is a link to the top-level `configs/`; a built wheel carries the files
themselves, so an installed glm-serve finds them wherever it lives (importlib.resources, not a path
relative to a checkout).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from .core import releases

PRESETS: Traversable = files(__package__) / "presets"


def names() -> list[str]:
    """Every bundled preset's name (its file name without .yaml)."""
    return sorted(p.name.removesuffix(".yaml") for p in PRESETS.iterdir() if p.name.endswith(".yaml"))


def path(name: str) -> Traversable | None:
    """The preset file called `name`, if one is bundled."""
    found = PRESETS / f"{name}.yaml"
    return found if found.is_file() else None


def problems(name: str, values: Mapping[str, Any]) -> list[str]:
    """What keeps a bundled preset's values from describing a known GLM deployment: weights that no
    release in the table publishes, or an output layout that is not that release's."""
    if values.get("demo") or values.get("backend") in ("hosted", "upstream", "fake"):
        return []
    model = str(values.get("model") or "")
    found = releases.weights_named(model)
    if found is None:
        return [f"preset {name}: {model or 'no model'} is not the weights of a release in the release table"]
    release, _ = found
    layout = values.get("output_layout", "auto")
    if layout not in ("auto", release.layout):
        return [f"preset {name}: output_layout {layout} but {release.name} writes {release.layout}"]
    return []
