"""`streamlit run dashboard.py` on a free loopback port: shared by the browser test, the server test
and the browser benchmarks. The address is never passed: `.streamlit/config.toml` sets it, and
`tests/test_server.py` checks from the OS that it does."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's (Playwright cannot download its own browser here)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dashboard_server(runs_dir: Path, log_path: Path | None = None, *, cwd: Path = ROOT, script: str = "dashboard.py",
                     env: dict | None = None, timeout: float = 60.0):
    """Yields ``(url, process)`` once the server answers its health check; stops it afterwards.
    ``cwd`` and ``script``: where it is started from and the path it is given (the README's way by default)."""
    port = free_port()
    log = open(log_path, "w+") if log_path else tempfile.TemporaryFile("w+")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port)],
                              cwd=cwd, env={**os.environ, "GAN_RUNS_DIR": str(runs_dir), **(env or {})},
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server, log, timeout)
        yield url, server
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _wait_until_healthy(url: str, server: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"streamlit did not answer on {url}:\n{log.read()}") from None
            time.sleep(0.2)


def start_long_job(page, url: str) -> None:
    """On ``page`` (a Playwright page): open the Train page and start report-2019 at its most epochs, a job that
    trains through any measurement."""
    page.goto(f"{url}/Train")
    slider = page.locator('input[type=range][aria-label="epochs"]')
    slider.focus()
    slider.press("End")
    page.get_by_text("(1000 epochs ×").wait_for()
    page.locator('[data-testid="stButton"] button', has_text="Start training").click()
