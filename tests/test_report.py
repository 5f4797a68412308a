"""The report's figures from a run: Fig. 4 (losses), Fig. 5 (snapshot panel), the curves as offline HTML."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from gan import report
from gan.runner import execute
from gan.store import RunStore
from helpers import cli


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A tiny run of 5 epochs with snapshots at 0, 1, 2 and 5 (0 and 5 are report epochs)."""
    from gan.config import preset

    store = RunStore(tmp_path_factory.mktemp("runs"))
    config = preset("report-2019", epochs=5, train_split="all", train_images=600, batch_size=50, hidden=32,
                    device="cpu", grid_size=4, eval_samples=0, snapshot_epochs=(0, 1, 2, 5))
    run = store.create(config)
    execute(run)
    return run


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def test_epoch_means_average_each_epochs_finite_steps():
    steps = {"epoch": np.array([1.0, 1, 2, 2]), "g_loss": np.array([np.nan, 2.0, 3.0, 5.0])}
    epochs, means = report.epoch_means(steps, ["g_loss"])
    assert epochs.tolist() == [1, 2] and means["g_loss"].tolist() == [2.0, 4.0]


def test_the_loss_figure_is_a_png_of_a_readable_size(reported):
    assert png(report.loss_png(reported)).size == (960, 540)


def test_the_snapshot_panel_holds_the_report_epochs_the_run_has_pixel_for_pixel(reported):
    assert report.panel_epochs(reported) == [0, 5]
    panel = np.asarray(png(report.snapshot_panel_png(reported)))
    grids = [np.asarray(Image.open(reported.snapshot_png(e)).convert("L")) for e in (0, 5)]
    height, width = grids[0].shape
    gap = 8
    assert panel.shape == (gap + height + report.LABEL_HEIGHT + gap, 2 * (width + gap) + gap)
    for i, grid in enumerate(grids):
        x, y = gap + i * (width + gap), gap + report.LABEL_HEIGHT
        np.testing.assert_array_equal(panel[y : y + height, x : x + width], grid)
    assert (panel[gap : gap + report.LABEL_HEIGHT, gap : gap + width] < 128).any()  # the epoch label is drawn


def test_the_curves_html_carries_plotly_inline_and_loads_nothing_from_the_network(reported):
    html = report.curves_html(reported)
    assert 'class="plotly-graph-div"' in html and "D loss on fake" in html
    assert not re.search(r"<script[^>]*\ssrc=[\"']?https?:", html)
    assert len(html) > 1_000_000  # plotly.js itself is inside


def test_a_run_without_steps_or_snapshots_is_a_clear_error(tmp_path, tiny_config):
    run = RunStore(tmp_path).create(tiny_config)
    with pytest.raises(ValueError, match=f"run {run.id} has no logged steps yet: train it first"):
        report.loss_png(run)
    with pytest.raises(ValueError, match=f"run {run.id} has no snapshots yet: train it first"):
        report.snapshot_panel_png(run)


def test_the_report_command_writes_the_three_figures(reported, tmp_path):
    out = cli("--runs-dir", str(reported.path.parent), "report", "--run", reported.id, "--out", str(tmp_path / "fig"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"wrote {tmp_path / 'fig' / name}" for name in
                                       ("losses.png", "snapshots.png", "curves.html")]
    assert png((tmp_path / "fig" / "snapshots.png").read_bytes()).size[0] > 0
    assert (tmp_path / "fig" / "curves.html").read_text().startswith("<!doctype html>")


def test_the_report_command_with_an_unknown_run_exits_2_naming_it(tmp_path):
    out = cli("--runs-dir", str(tmp_path), "report", "--run", "nope", "--out", str(tmp_path / "fig"))
    assert out.returncode == 2 and out.stderr == f"python -m gan report: error: no run 'nope' in {tmp_path}\n"
    assert not (tmp_path / "fig").exists()
