"""Small helpers shared by the tests."""

import contextlib
import io
import subprocess
import threading
import time


def wait_for(predicate, timeout: float = 60.0, message: str = "condition", interval: float = 0.05):
    """Poll ``predicate`` until it is true; an AssertionError naming ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def cli(*args) -> subprocess.CompletedProcess:
    """``python -m gan ARGS`` through ``gan.cli.main`` in this process (no 3 s process start): its exit code and
    output, as ``subprocess.run`` returns them. Only for commands that set no process-wide state: ``train``
    sets signal handlers, so the tests run it in a process of its own."""
    from gan.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def count_in_a_new_thread() -> int:
    """``torch.get_num_threads()`` as a thread started now reads it (a second job, say)."""
    import torch

    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]
