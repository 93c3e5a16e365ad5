"""Lifeline: the engine processes vLLM starts exit when the glm-serve process that started them dies.

A server killed with SIGKILL (or by the OOM killer, or a crash) runs no shutdown code. vLLM's EngineCore
process does not watch its parent, so it would run on for good, with its workers and, on a GPU box, all
of the memory they hold: the restart then fails for want of memory. Each engine process therefore watches
its parent pid (a process whose parent dies is handed to another: its parent pid changes at once) and
ends itself when the parent goes: SIGTERM first, so vLLM shuts down as it does on a signal, then a hard
exit.

The watch has to start inside the child. Two ways cover both of vLLM's start methods:
- spawn (vLLM's choice on CPU, and on CUDA once CUDA is initialized): a fresh interpreter runs none of
  our code, but vLLM loads its `vllm.general_plugins` entry points in every process it creates; ours
  (`plugin`, named in pyproject.toml) starts the watch when `arm` has set GLM_SERVE_LIFELINE;
- fork: the child inherits multiprocessing's after-fork hooks, which `arm` registers.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import MutableMapping

log = logging.getLogger("glm_serve.lifeline")

ENV = "GLM_SERVE_LIFELINE"
POLL_SECONDS = 0.5  # how often the parent pid is compared (os.getppid: a system call, nothing more)
GRACE_SECONDS = 3.0  # how long vLLM's own SIGTERM shutdown may take before the hard exit

_watching = False


class _Anchor:
    """multiprocessing keeps after-fork hooks in a weak mapping: this object keeps ours alive."""


_ANCHOR = _Anchor()


def arm(environ: MutableMapping[str, str] | None = None) -> None:
    """In the server, before the engine starts: every process started from now on watches its parent."""
    env = os.environ if environ is None else environ
    env[ENV] = "1"
    multiprocessing.util.register_after_fork(_ANCHOR, lambda _: watch_parent())


def plugin() -> None:
    """vLLM's general-plugin hook, run in each process vLLM creates (and in the server, where it does
    nothing): starts the watch in an engine process that glm-serve armed."""
    if os.environ.get(ENV) == "1":
        watch_parent()


def watch_parent() -> None:
    """Start watching this process's parent (once; nothing in a process multiprocessing did not start)."""
    global _watching
    if multiprocessing.parent_process() is None or _watching:
        return
    _watching = True
    threading.Thread(target=_watch, args=(os.getppid(),), name="glm-serve-lifeline", daemon=True).start()


def _watch(parent_pid: int) -> None:
    # Not multiprocessing's parent sentinel: it also reads as closed when the parent merely drops its
    # Process object, while the pid changes only when the parent is gone.
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    log.warning("glm-serve (pid %d) has gone; this engine process (pid %d) exits", parent_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)
