"""Child processes stop with their parent on SIGTERM, and on stop_all."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from funcsim_lib import children

# A parent that runs a long child through children.run and records its pid.
PARENT = """
import sys
from funcsim_lib import children

with children.exit_on_sigterm():
    children.run(
        [sys.executable, "-c",
         "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
         "time.sleep(120)", sys.argv[1]],
        env=None,
    )
"""


def wait_for_pid(path: Path, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"the child wrote no pid to {path}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_parent_and_child(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(pid_file)],
        env={**os.environ, "PYTHONPATH": str(Path(children.__file__).parents[1])},
    )
    child = wait_for_pid(pid_file)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_stop_all_stops_thread_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    results = []
    command = [
        sys.executable,
        "-c",
        "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
        "time.sleep(120)",
        str(pid_file),
    ]
    worker = threading.Thread(
        target=lambda: results.append(children.run(command, None))
    )
    worker.start()
    child = wait_for_pid(pid_file)
    start = time.monotonic()
    children.stop_all()
    worker.join(30)
    assert not worker.is_alive()
    assert time.monotonic() - start < children.GRACE_SECONDS[0]
    assert results[0].returncode != 0
    assert not alive(child)


def test_sigterm_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with children.exit_on_sigterm():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
