"""Child processes that stop with their parent.

The book runs papermill and jupyter-book as child processes, and papermill
starts a Jupyter kernel in a session of its own. Killing the parent with
SIGTERM (``kill``, ``timeout``, a cancelled CI job) would leave them running.
``exit_on_sigterm`` turns SIGTERM into ``SystemExit`` in the main thread, and
``run`` interrupts its child on any exit, as Ctrl-C does: papermill then
shuts its kernel down before it exits.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# Seconds a child has to exit after SIGINT, then after SIGTERM.
GRACE_SECONDS = (20.0, 5.0)

_running: set[subprocess.Popen] = set()
_lock = threading.Lock()


def run(
    command: Sequence[str], env: dict[str, str] | None
) -> subprocess.CompletedProcess:
    """Run ``command`` to completion, capturing its output as text."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    with _lock:
        _running.add(process)
    try:
        stdout, stderr = process.communicate()
    except BaseException:
        # Ctrl-C or SIGTERM while the main thread waits here.
        _stop([process])
        raise
    finally:
        with _lock:
            _running.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def stop_all() -> None:
    """Interrupt every running child, then terminate and kill what remains."""
    with _lock:
        processes = list(_running)
    _stop(processes)


def _stop(processes: list[subprocess.Popen]) -> None:
    """Send SIGINT, then SIGTERM, each with one shared grace period, then kill."""
    for signum, grace in zip((signal.SIGINT, signal.SIGTERM), GRACE_SECONDS):
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)
        deadline = time.monotonic() + grace
        for process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Raise ``SystemExit(143)`` on SIGTERM inside the block, then restore.

    The exit unwinds the stages like Ctrl-C does, so that their cleanup
    (``stop_all`` among it) runs. 143 is the shell's status for SIGTERM.
    Outside the main thread, where Python cannot set handlers, it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
