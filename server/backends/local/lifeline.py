"""Lifeline: the engine processes vLLM starts answer to glm-serve alone, and exit when it dies.

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

Ctrl-C in a terminal signals the whole process group: the engine processes too, which would die with
tracebacks of their own (mid-import, during a load) while glm-serve shuts down in order. They ignore
SIGINT instead: `start_unheard` starts the first one while glm-serve ignores it (a process started so
keeps ignoring it through its imports), and the plugin keeps it ignored in every engine process, whose
children inherit it. glm-serve stops them itself, and the watch ends them if it dies first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import TypeVar

log = logging.getLogger("glm_serve.lifeline")

ENV = "GLM_SERVE_LIFELINE"
POLL_SECONDS = 0.5  # how often the parent pid is compared (os.getppid: a system call, nothing more)
GRACE_SECONDS = 3.0  # how long vLLM's own SIGTERM shutdown may take before the hard exit

_watching = False
T = TypeVar("T")


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
    nothing): in an engine process that glm-serve armed, SIGINT stays ignored and the watch starts."""
    if os.environ.get(ENV) == "1" and multiprocessing.parent_process() is not None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        watch_parent()


async def start_unheard(load: Callable[[], T]) -> T:
    """`load()` on a thread of its own, with SIGINT ignored here until the first process it starts exists
    (from the event loop's thread, the main one; elsewhere, as in tests, signals are not ours to set).

    A daemon thread, not the loop's executor: asyncio.run() joins the executor's threads at exit, so a
    Ctrl-C during a load would wait for the whole load before the process could end."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if done.set_running_or_notify_cancel():
            try:
                done.set_result(load())
            except BaseException as exc:
                done.set_exception(exc)

    threading.Thread(target=run, name="glm-serve-load", daemon=True).start()
    loading = asyncio.wrap_future(done)
    if threading.current_thread() is not threading.main_thread():
        return await loading
    before = set(multiprocessing.active_children())
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while not loading.done() and not set(multiprocessing.active_children()) - before:
            await asyncio.sleep(0.02)
    finally:
        signal.signal(signal.SIGINT, previous)
    return await loading


def end_children(grace: float = 3.0) -> None:
    """Stop every process this one started (an engine still loading when the server stops: it may sit in
    its start-up handshake, before the watch has begun): SIGTERM, then SIGKILL after `grace` seconds."""
    import psutil  # vLLM's dependency: there is an engine to end only where vLLM is installed

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def watch_parent() -> None:
    """Start watching this process's parent (once; nothing in a process multiprocessing did not start)."""
    global _watching
    if multiprocessing.parent_process() is None or _watching:
        return
    _watching = True
    parent = multiprocessing.parent_process()
    # The pid multiprocessing recorded, not os.getppid(): a parent that died while this process was still
    # importing has left it to another already.
    pid = parent.pid if parent is not None and parent.pid is not None else os.getppid()
    threading.Thread(target=_watch, args=(pid,), name="glm-serve-lifeline", daemon=True).start()


def _watch(parent_pid: int) -> None:
    # Not multiprocessing's parent sentinel: it also reads as closed when the parent merely drops its
    # Process object, while the pid changes only when the parent is gone.
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    log.warning("glm-serve (pid %d) has gone; this engine process (pid %d) exits", parent_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)
