"""The engine never outlives its server: a glm-serve killed with SIGKILL leaves no engine process behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import server_process, tiny_model_dir

pytestmark = pytest.mark.engine


def children() -> dict[int, list[int]]:
    """Every process's children, read from /proc (pid → child pids)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.parametrize("tensor_parallel", [1, 2], ids=["one worker", "two workers"])
def test_sigkill_of_the_server_leaves_no_engine_process(tmp_path: Path, tensor_parallel: int) -> None:
    tiny_model_dir()
    log = tmp_path / "serve.log"
    # Two CPU workers need a core each (as in test_distributed).
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": "0|1"} if tensor_parallel > 1 else None
    args = ["--model", "tiny-cpu", "--tensor-parallel-size", str(tensor_parallel)]
    with server_process(args, log, env) as (proc, _):
        engine = descendants(proc.pid)
        # EngineCore, and with two workers its worker processes too (the resource tracker is the rest).
        assert len(engine) >= 1 + (tensor_parallel if tensor_parallel > 1 else 0), engine
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in engine) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = sorted(p for p in engine if alive(p))
        assert not left, [Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left]
    assert "has gone; this engine process" in log.read_text()
