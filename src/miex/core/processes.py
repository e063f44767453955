"""How miex processes end: Ctrl-C, a dead launcher, a dead parent.

- Ctrl-C gives one line and exit 130 from the first instant of a command (the CLI catches it around everything,
  imports included); a second Ctrl-C while the first is being handled ends the process at once.
- Worker processes never see Ctrl-C (:func:`worker_pool`): the terminal sends it to the whole process group, and a
  worker interrupted mid-import would print its own traceback; the parent reports it and stops them, dropping the
  queued work instead of finishing it.
- A worker, or a rank started by ``torchrun``/``accelerate launch``, dies with the process that started it, even when
  that process is killed with SIGKILL and runs no clean-up (:func:`die_with_parent`, :func:`end_with_launcher`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, NoReturn

PR_SET_PDEATHSIG = 1
"""Linux prctl option: the signal a process receives when its parent dies."""

INTERRUPTED_EXIT = 130
"""The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it."""

STOP_GRACE_SECONDS = 1.0
"""How long interrupted workers may take to finish the item in hand before they are terminated."""

LAUNCHER_VARIABLES = ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT")
"""Set by torchrun (and by ``accelerate launch``, which runs torchrun's agent) in every rank it starts."""


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL) -> None:
    """End this process with ``signum`` when ``parent_pid`` (its parent) dies, however it dies: without it, orphaned
    workers or ranks (hundreds of MB each) keep running for minutes. Linux prctl; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - not Linux
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def end_with_launcher() -> None:
    """In a rank started by torchrun or ``accelerate launch``, end the rank when the launcher dies. The launcher stops
    its ranks itself on Ctrl-C or a failed rank, but ``kill -9`` of the launcher left them running (reparented)."""
    if any(name in os.environ for name in LAUNCHER_VARIABLES):
        die_with_parent(os.getppid(), signal.SIGTERM)


_STATE = {"signalled": False, "reported": False}


def _raise_interrupt(signum: int, frame: object) -> None:
    _STATE["signalled"] = True
    raise KeyboardInterrupt


def _exit_at_once(signum: int, frame: object) -> None:
    os._exit(INTERRUPTED_EXIT)


def watch_interrupts() -> None:
    """Ctrl-C raises KeyboardInterrupt as always, and is remembered: an import interrupted inside a C extension can
    surface as another error (an ImportError), which :func:`interrupted` then lets the CLI report as the Ctrl-C."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) in (
        signal.default_int_handler,
        _raise_interrupt,
    ):
        signal.signal(signal.SIGINT, _raise_interrupt)


def interrupted() -> bool:
    """Whether Ctrl-C was pressed since :func:`watch_interrupts`."""
    return _STATE["signalled"]


def after_interrupt() -> None:
    """Called once the first Ctrl-C has been reported: another one ends the process at once, without a traceback from
    the clean-up it interrupts (closing files, joining threads)."""
    _STATE["reported"] = True
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _exit_at_once)


def exit_process(code: int) -> NoReturn:
    """End an entry point with ``code``. After a reported Ctrl-C it flushes and leaves at once: a library that saw
    the interrupt before miex did (C++ bindings running Python code during an import) leaves CPython's "unhandled
    KeyboardInterrupt" mark, and CPython would then kill itself by SIGINT at exit instead of exiting 130."""
    if _STATE["reported"]:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


@contextlib.contextmanager
def starting_workers() -> Iterator[None]:
    """Start worker processes inside this block: they are born with Ctrl-C blocked (a blocked signal stays blocked
    across fork and exec), so a Ctrl-C never interrupts a worker, in its imports or later, and the parent alone
    reports it. A Ctrl-C during the block still reaches the parent once the block ends."""
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover - pools start from main
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def worker_pool(
    workers: int,
    start_method: str,
    *,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers are born deaf to Ctrl-C and which, when its block is left by an exception (Ctrl-C
    included), cancels the queued work and stops its workers at once; left normally, it waits for them as usual."""
    from multiprocessing import get_context

    executor = ProcessPoolExecutor(
        workers, mp_context=get_context(start_method), initializer=initializer, initargs=initargs
    )
    try:
        with starting_workers():
            for _ in range(workers):  # each early submission starts one worker (all of them, for fork): start them now
                executor.submit(int)
        yield executor
    except BaseException:
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:  # a short grace to finish the item in hand, then stopped: never the whole queue
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
        raise
    executor.shutdown(wait=True)
