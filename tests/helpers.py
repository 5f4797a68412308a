"""Small helpers shared by the tests."""

import time


def wait_for(predicate, timeout: float = 60.0, message: str = "condition", interval: float = 0.05):
    """Poll ``predicate`` until it is true; an AssertionError naming ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")
