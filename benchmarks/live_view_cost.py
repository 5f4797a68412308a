"""What one refresh of the Train page's live view costs the server, part by part.

    python benchmarks/live_view_cost.py [--epochs 3] [--refreshes 20]

Trains report-2019 for a few epochs into a temporary store (CLI, metrics off), then replays the live
view's refreshes against it as if the run were in progress: each refresh sees the steps that 2 s of
training at ``--images-per-s`` add. It times, in CPU seconds of this thread, what the view does per
refresh (store reads, figures, Plotly's JSON, the grid image) and counts the bytes those elements
put on the wire. It runs outside Streamlit (``ui`` works without a server: its session state is a
plain dict then), so it measures our code and Plotly/PIL, not the websocket or the browser;
`benchmarks/bench_dashboard.py` measures the whole thing.
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import plotly.io  # noqa: E402
import plotly.tools  # noqa: E402
from PIL import Image  # noqa: E402

import ui  # noqa: E402
from gan.store import RunStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Parts:
    """CPU seconds and bytes per named part."""

    def __init__(self):
        self.seconds, self.bytes = defaultdict(float), defaultdict(int)

    def timed(self, name, fn, *args, **kwargs):
        start = time.thread_time()
        out = fn(*args, **kwargs)
        self.seconds[name] += time.thread_time() - start
        return out


def plotly_chart_payload(fig) -> bytes:
    """What ``st.plotly_chart`` does to a figure before it goes on the wire (Streamlit 1.67)."""
    figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return plotly.io.to_json(figure, validate=False).encode()


def image_payload(image: np.ndarray) -> bytes:
    """What ``st.image`` does to a uint8 array: a PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def train(runs_dir: Path, epochs: int) -> str:
    subprocess.run([sys.executable, "-m", "gan", "--runs-dir", str(runs_dir), "train", "--preset", "report-2019",
                    "--epochs", str(epochs), "--eval-samples", "0", "--quiet"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    (info,) = RunStore(runs_dir).list()
    return info["id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--images-per-s", type=float, default=20_000, help="Training speed the replay assumes.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_id = train(Path(tmp), args.epochs)
        parts = replay(RunStore(Path(tmp)).open(run_id), args)
    print(f"# one live-view refresh of report-2019 ({args.refreshes} refreshes replayed, "
          f"{args.images_per_s:,.0f} images/s assumed), CPU ms of the server's script thread and bytes sent")
    print(f"{'part':34} {'CPU ms':>8} {'bytes':>10}")
    for name in parts.seconds:
        print(f"{name:34} {1000 * parts.seconds[name] / args.refreshes:8.1f} {parts.bytes[name] / args.refreshes:10,.0f}")
    total = sum(parts.seconds.values()) / args.refreshes
    print(f"{'total':34} {1000 * total:8.1f} {sum(parts.bytes.values()) / args.refreshes:10,.0f}")
    print(f"CPU share of one core at one refresh per {ui.REFRESH_S:g} s: {total / ui.REFRESH_S:.1%}")


def replay(run, args) -> Parts:
    """Replays refreshes from mid-run to the end; the store's steps are hidden until 'written'."""
    steps = run.steps()["step"]
    per_refresh = int(args.images_per_s * ui.REFRESH_S / run.config().batch_size)
    ends = np.linspace(len(steps) // 2, len(steps), args.refreshes).astype(int)
    ends = np.maximum(ends, np.arange(args.refreshes) * per_refresh + len(steps) // 2)
    parts = Parts()
    history = run.steps()
    for end in np.minimum(ends, len(steps)):
        shown = (history["step"] <= steps[end - 1])
        run.steps = lambda after=0, shown=shown: {k: v[shown & (history["step"] > after)] for k, v in history.items()}
        refresh(run, parts)
    return parts


def refresh(run, parts: Parts) -> None:
    info = parts.timed("store: run info", run.info)
    config = ui.config_of(info)
    columns = parts.timed("store: new steps", ui.history, run)
    events = parts.timed("store: events", run.events)
    chart = dict(steps_per_epoch=config.steps_per_epoch, events=events, revision=run.id, max_points=ui.LIVE_POINTS)
    for name, make in (("loss", ui.loss_figure), ("score", ui.score_figure)):
        fig = parts.timed(f"figure: {name} (downsample, build)", make, columns, loss=config.loss, **chart)
        payload = parts.timed(f"serialise: {name} (validate, JSON)", plotly_chart_payload, fig)
        parts.bytes[f"serialise: {name} (validate, JSON)"] += len(payload)
    grid, _ = parts.timed("grid: read snapshot", ui.latest_grid, run)
    image = parts.timed("grid: scale x2", ui.scaled, grid, 2)
    png = parts.timed("grid: PNG encode", image_payload, image)
    parts.bytes["grid: PNG encode"] += len(png)


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # ui outside a server: Streamlit warns about the missing runtime
    main()
