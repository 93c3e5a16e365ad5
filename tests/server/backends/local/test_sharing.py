"""The CPU engine's session gives way to other sessions (the kernel's autogroup weight)."""

from __future__ import annotations

from pathlib import Path

from server.backends.local.sharing import give_way


def test_the_session_weight_is_lowered_where_the_kernel_has_autogroups(tmp_path: Path) -> None:
    autogroup = tmp_path / "autogroup"
    autogroup.write_text("/autogroup-7 nice 0\n")
    assert give_way(19, autogroup) and autogroup.read_text() == "19"
    assert not give_way(0, autogroup)  # 0: left as it is
    assert not give_way(19, tmp_path / "missing")  # a kernel without autogroups
