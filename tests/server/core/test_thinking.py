"""Fitting a request's thinking to a release: effort levels, and thinking off where it cannot be."""

from __future__ import annotations

import pytest

from server.core import releases
from server.core.releases.thinking import fit, fit_for, nearest_effort
from server.core.request import Thinking


@pytest.mark.parametrize(
    ("asked", "efforts", "got"),
    [
        ("low", ("low", "high", "max"), "low"),
        ("medium", ("low", "high", "max"), "low"),  # never more than asked where less exists
        ("xhigh", ("low", "high", "max"), "high"),
        ("low", ("high", "max"), "high"),  # GLM-5/5.1 have nothing lower
        ("max", ("high", "max"), "max"),
        ("whatever", ("high", "max"), "high"),
    ],
)
def test_nearest_effort(asked: str, efforts: tuple[str, ...], got: str) -> None:
    assert nearest_effort(asked, efforts) == got


def test_fit_by_release() -> None:
    glm53, glm47, glm45 = releases.find("glm-5.3"), releases.find("glm-4.7"), releases.find("glm-4.5")
    off = Thinking(enabled=False, clear=False)
    fitted, note = fit_for(off, glm53)
    assert fitted == Thinking(enabled=None, clear=False, effort="low") and note and "always thinks" in note
    assert fit_for(off, glm47) == (off, None)  # it can turn thinking off
    assert fit_for(Thinking(effort="low"), glm45) == (Thinking(effort="low"), None)  # no levels: as asked
    assert fit_for(off, None) == (off, None)
    assert fit(Thinking(enabled=False), "always", ()) == (Thinking(), "this model always thinks")
