"""The parser corpus: raw GLM output and the message it must parse to (fields of glm_output_format.md §8)."""

from __future__ import annotations

from . import arguments, calls, endings, prose
from .case import ALL, WRITE, Case

CASES: list[Case] = [*prose.CASES, *calls.CASES, *arguments.CASES, *endings.CASES]

__all__ = ["ALL", "CASES", "WRITE", "Case"]
