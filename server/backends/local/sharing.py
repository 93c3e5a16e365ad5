"""Sharing: an engine on CPU gives way to other sessions' processes instead of starving them.

vLLM's engine processes wait for each other by spinning: a reader of its shared-memory queues calls
sched_yield() in a loop for a second after every message (shm_broadcast.SpinCondition, busy_loop_s = 1,
not configurable). With the kernel's autogroup scheduling (on by default: one group per session, so per
terminal, per `setsid`), a group of such spinners kept every process of other sessions off the CPU for
8-17 s at a time on a 2-core box: a client in another terminal read nothing while the engine had long
finished the tokens it waited for (scripts/probe_stalls.py). On CPU the server therefore lowers its own
session group's weight (/proc/self/autogroup, niceness 19): it still takes all the CPU nobody else wants,
and yields it at once to a client that wants it. On CUDA the spinning costs a core, not the clients.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("glm_serve.local")

AUTOGROUP = Path("/proc/self/autogroup")


def give_way(niceness: int, autogroup: Path = AUTOGROUP) -> bool:
    """Set this session's autogroup niceness (raising it needs no privilege); False where the kernel has
    no autogroups or `niceness` is 0."""
    if niceness <= 0 or not autogroup.exists():
        return False
    try:
        autogroup.write_text(str(niceness))
    except OSError as exc:
        log.warning("could not lower this session's CPU weight (%s): clients may stall", exc)
        return False
    log.info("engine on CPU: this session's scheduling weight lowered (autogroup nice %d)", niceness)
    return True
