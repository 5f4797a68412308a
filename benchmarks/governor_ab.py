"""Thread policies side by side inside one training job (an experiment): the governor as shipped (a quick rise), as it
was before session 33 (a slow rise), and two fixed threads, in random blocks of one job, beside a synthetic load or
Train tabs in Chromium.

    python benchmarks/governor_ab.py --load refresh3 [--seconds 90] [--block 3]
    python benchmarks/governor_ab.py --dashboard --tabs 3 [--seconds 120] [--block 3]

``adaptive_threads.py`` compares policies in separate processes one after another, which this VM's drift (up to 2x
within a minute) can decide either way; here every policy gets one block of ``--block`` seconds per cycle, in a random
order, in the same job (``policy_switch.py``), and the ratio to the slow rise is taken cycle by cycle. With
``--dashboard``, the switch runs inside the dashboard's server (a ``sitecustomize`` on its ``PYTHONPATH`` wraps
``Trainer.train_epoch``: the first trainer that trains with a governor is the job's), the tabs are opened before
Start, and the job is report-2019 at the most epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adaptive_threads import LOAD, LOADS  # noqa: E402
from policy_switch import POLICIES, SETTLE_S, summary  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import subprocess, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import gan  # noqa: F401
import torch
from gan.config import preset
from gan.trainer import Trainer
from policy_switch import PolicySwitch
config = preset("report-2019").replace(train_images=10000, epochs=10000, snapshot_epochs=(10000,))
trainer = Trainer(config, images=torch.randint(0, 256, (10000, 28, 28), dtype=torch.uint8))
assert trainer.governor is not None, "no governor on this machine"
load = {load!r}
other = None if load is None else subprocess.Popen([sys.executable, "-c", {code!r}, *map(str, load)])
start = time.perf_counter()
while time.perf_counter() - start < 1.0:  # warm-up
    trainer.batch, trainer.perm = 0, None
    trainer.train_epoch()
switch = PolicySwitch(trainer, block_s={block!r}, policies={policies!r}, out={out!r}).start()
while time.perf_counter() - start < 1.0 + {seconds!r}:
    trainer.batch, trainer.perm = 0, None
    trainer.train_epoch()
switch.stop()
if other is not None:
    other.kill()
"""

SITECUSTOMIZE = """
import sys, threading, time
def _patch():
    try:
        _patched()
    except BaseException as exc:
        with open({out!r} + ".error", "w") as f:
            f.write(repr(exc))
def _patched():
    while "gan.trainer" not in sys.modules or not hasattr(sys.modules["gan.trainer"], "Trainer"):
        time.sleep(0.05)
    sys.path.insert(0, {here!r})
    from policy_switch import PolicySwitch
    Trainer = sys.modules["gan.trainer"].Trainer
    train_epoch = Trainer.train_epoch
    def patched(self, *args, **kwargs):  # the first trainer that trains with a governor: the job's
        if self.governor is not None and not getattr(Trainer, "_switched", False):
            Trainer._switched = True
            PolicySwitch(self, block_s={block!r}, policies={policies!r}, out={out!r}).start()
        return train_epoch(self, *args, **kwargs)
    Trainer.train_epoch = patched
threading.Thread(target=_patch, daemon=True).start()
"""


def blocks_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def synthetic(args, out: Path) -> None:
    code = CHILD.format(root=str(ROOT), here=str(HERE), load=LOADS[args.load], code=LOAD, block=args.block,
                        policies=tuple(args.policies), out=str(out), seconds=args.seconds)
    subprocess.run([sys.executable, "-c", code], check=True)


def dashboard(args, out: Path, tmp: Path) -> None:
    from bench_dashboard import watch_long_job
    from playwright.sync_api import sync_playwright
    from serve import CHROMIUM, CHROMIUM_FLAGS, dashboard_server

    site = tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(here=str(HERE), block=args.block,
                                                                policies=tuple(args.policies), out=str(out)))
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with dashboard_server(tmp / "runs", env={"PYTHONPATH": path}) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        pages = watch_long_job(browser, url, args.tabs)
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            pages[0].wait_for_timeout(1000)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", choices=list(LOADS), default="refresh3")
    parser.add_argument("--dashboard", action="store_true", help="Train tabs in Chromium instead of --load")
    parser.add_argument("--tabs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--block", type=float, default=3.0, help="seconds per policy per cycle")
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "blocks.jsonl"
        what = f"{args.tabs} Train tab(s) in Chromium" if args.dashboard else f"load {args.load}"
        print(f"# report-2019, batch 100, float32, {os.cpu_count()} CPUs, {what}; policies {', '.join(args.policies)} "
              f"in random blocks of {args.block:g} s (the first {SETTLE_S:g} s of each left out), {args.seconds:g} s",
              flush=True)
        if args.dashboard:
            dashboard(args, out, Path(tmp))
        else:
            synthetic(args, out)
        blocks = blocks_of(out)
        if not blocks:
            error = out.with_suffix(".jsonl.error")
            raise SystemExit("no block was measured" + (f": {error.read_text()}" if error.exists() else ""))
        print(summary(blocks))


if __name__ == "__main__":
    main()
