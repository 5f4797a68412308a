"""The 2019 report's figures, drawn from a run in the store, to put next to the report's own.

- ``loss_png``: its Fig. 4, the losses of D on real images, of D on fakes and of G against epoch
  (each epoch's mean, as the report plotted them), with matplotlib;
- ``snapshot_panel_png``: its Fig. 5, the fixed-noise grids at epochs 0, 5, 10, 20, 40, 60, 80, 100,
  200, 300, 400 and 500 (those the run has) in one picture with epoch labels, with PIL;
- ``curves_html``: the interactive curves (per-step losses and D's mean outputs) as one HTML file
  with plotly.js inside, so it opens offline.

matplotlib and plotly load on first use: the training CLI never pays for them.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan.config import REPORT_SNAPSHOT_EPOCHS
from gan.history import downsample
from gan.losses import LOSSES
from gan.store import Run

LOSS_CURVES = {"d_loss_real": "D loss on real", "d_loss_fake": "D loss on fake", "g_loss": "G loss"}
SCORE_CURVES = {"d_real": "mean D(x)", "d_fake": "mean D(G(z))"}
PANEL_COLUMNS = 4  # 12 snapshots: 3 rows of 4
LABEL_HEIGHT = 28  # pixels above each grid for its epoch


def _steps(run: Run) -> dict[str, np.ndarray]:
    steps = run.steps()
    if not steps or not len(steps["step"]):
        raise ValueError(f"run {run.id} has no logged steps yet: train it first")
    return steps


def epoch_means(steps: dict[str, np.ndarray], names) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The epochs and each metric's mean over each epoch's steps (NaN steps, where G was not updated, skipped)."""
    epochs, index = np.unique(steps["epoch"].astype(int), return_inverse=True)
    means = {}
    for name in names:
        values = steps[name]
        finite = np.isfinite(values)
        sums = np.bincount(index, weights=np.where(finite, values, 0.0), minlength=len(epochs))
        counts = np.bincount(index, weights=finite, minlength=len(epochs))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[name] = sums / counts
    return epochs, means


def loss_png(run: Run) -> bytes:
    """The report's Fig. 4 for this run: per-epoch mean losses against epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into memory
    from matplotlib.figure import Figure

    config = run.config()
    epochs, means = epoch_means(_steps(run), LOSS_CURVES)
    figure = Figure(figsize=(8, 4.5), dpi=120, layout="tight")
    axes = figure.add_subplot()
    for name, label in LOSS_CURVES.items():
        axes.plot(epochs, means[name], label=label, linewidth=1.2)
    axes.set(xlabel="epoch", ylabel=f"loss ({LOSSES[config.loss].unit})",
             title=f"Losses by epoch, {run.id} ({config.loss}, batch {config.batch_size}, {config.steps_per_epoch} "
                   "steps per epoch)")
    axes.grid(alpha=0.3)
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def panel_epochs(run: Run) -> list[int]:
    """The report's snapshot epochs that the run has; a run with none of them: all its snapshots."""
    available = run.snapshot_epochs()
    if not available:
        raise ValueError(f"run {run.id} has no snapshots yet: train it first")
    return [e for e in available if e in REPORT_SNAPSHOT_EPOCHS] or available


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # a scalable font where Pillow has FreeType
    except (TypeError, OSError):
        return ImageFont.load_default()


def snapshot_panel_png(run: Run) -> bytes:
    """The report's Fig. 5 for this run: the snapshot grids in one picture, each under its epoch."""
    grids = [(e, Image.open(run.snapshot_png(e)).convert("L")) for e in panel_epochs(run)]
    width, height = grids[0][1].size
    columns = min(PANEL_COLUMNS, len(grids))
    rows = -(-len(grids) // columns)
    gap = 8
    panel = Image.new("L", (columns * (width + gap) + gap, rows * (height + LABEL_HEIGHT + gap) + gap), 255)
    draw, font = ImageDraw.Draw(panel), _font(LABEL_HEIGHT - 8)
    for i, (epoch, grid) in enumerate(grids):
        x = gap + (i % columns) * (width + gap)
        y = gap + (i // columns) * (height + LABEL_HEIGHT + gap)
        draw.text((x + width // 2, y + LABEL_HEIGHT // 2), f"epoch {epoch}", fill=0, font=font, anchor="mm")
        panel.paste(grid, (x, y + LABEL_HEIGHT))
    buffer = io.BytesIO()
    panel.save(buffer, format="PNG")
    return buffer.getvalue()


def curves_html(run: Run, *, max_points: int = 2000) -> str:
    """The per-step curves (losses above, D's mean outputs below) as a self-contained HTML page."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    config = run.config()
    data = downsample(_steps(run), max_points=max_points)
    x = data["step"] / config.steps_per_epoch
    probability = LOSSES[config.loss].probability
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("Losses", "D's probability that an image is real" if probability
                                        else "Critic's mean score"))
    for row, curves in ((1, LOSS_CURVES), (2, SCORE_CURVES)):
        for name, label in curves.items():
            fig.add_trace(go.Scatter(x=x, y=data[name], mode="lines", name=label, connectgaps=True), row=row, col=1)
    if probability:
        fig.add_hline(y=0.5, line_dash="dash", line_color="black", row=2, col=1,
                      annotation_text="0.5: D cannot tell real from fake")
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_layout(title=f"{run.id}: training curves", height=750, hovermode="x unified")
    return fig.to_html(include_plotlyjs=True, full_html=True)  # plotly.js inline: no network needed


REPORT_FILES = {"losses.png": loss_png, "snapshots.png": snapshot_panel_png,
                "curves.html": lambda run: curves_html(run).encode()}


def report_files(run: Run) -> dict[str, bytes]:
    """Every figure above: file name -> contents."""
    return {name: make(run) for name, make in REPORT_FILES.items()}
