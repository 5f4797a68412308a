"""Shared by the browser benchmarks: a `streamlit run dashboard.py` on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def dashboard_server(runs_dir: Path, log_path: Path | None = None):
    """Yields ``(url, process)`` once the server answers its health check; stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port)],
                              cwd=ROOT, env={**os.environ, "GAN_RUNS_DIR": str(runs_dir)},
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        yield url, server
    finally:
        server.terminate()
        server.wait(30)
        if log_path:
            log.close()
