"""What the dashboard's pages share: the process-wide job runner, run pickers, the config form and
the Plotly figures. Everything here runs in Streamlit's script thread; training threads only ever
update the runner's progress objects and the run store, which these helpers read."""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
import json
import math
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas  # noqa: F401  plotly looks pandas up lazily: imported here once, concurrent sessions never see it half-imported
import plotly.graph_objects as go
import plotly.io
import streamlit as st
from PIL import Image

from gan.config import (PRESETS, REPORT_SNAPSHOT_EPOCHS, ConfigError, TrainConfig, applicable_fields, field_kind,
                        parse_epochs, preset)
from gan.history import IncrementalHistory, downsample
from gan.images import grid_image, png_bytes
from gan.losses import LOSSES
from gan.models import FAMILIES
from gan.runner import ACTIVE, JobRunner
from gan.sampling import raw_and_averaged
from gan.store import LIVE_STATUSES, Run, RunStore
from gan.timing import duration_text, eta_seconds
from gan.trainer import measure_images_per_s, resolve_device

REFRESH_S = 2.0  # live view refresh period: often enough to feel live, rare enough to leave the CPU to training
REFRESH_CHOICES = (1.0, 2.0, 5.0, 10.0, 30.0)  # the Train page's "refresh every" choice
IDLE_REFRESH_S = 5.0  # a paused or queued job: nothing moves but its status
REBUILD_S = 1.0  # tabs refreshing within this of each other share one set of live figures
MAX_POINTS = 2000  # per trace, for charts drawn once
LIVE_POINTS = 300  # per trace, for charts redrawn every refresh (a chart is about 600 pixels wide)
STATUS_ICONS = {
    "created": "⚪", "queued": "⏳", "starting": "⏳", "running": "🟢", "paused": "⏸️", "stopped": "⏹️", "finished": "✅",
    "failed": "❌", "interrupted": "⚠️", "damaged": "🧨",
}
COLORS = {"d_loss_real": "#1f77b4", "d_loss_fake": "#ff7f0e", "g_loss": "#2ca02c", "d_real": "#1f77b4",
          "d_fake": "#d62728", "wasserstein": "#9467bd", "gradient_penalty": "#8c564b"}
LABELS = {
    "d_loss_real": "D loss on real", "d_loss_fake": "D loss on fake", "g_loss": "G loss",
    "d_real": "mean D(x)", "d_fake": "mean D(G(z))",
    "wasserstein": "Wasserstein estimate", "gradient_penalty": "gradient penalty",
}


# -- the process-wide runner ------------------------------------------------------------------
def _release(runner: JobRunner) -> None:
    runner.shutdown()


@st.cache_resource(on_release=_release, show_spinner=False)
def _process_runner() -> JobRunner:
    return JobRunner(RunStore())


_RUNNER: JobRunner | None = None  # the process's runner, for the live view's data route (no script context there)


def get_runner() -> JobRunner:
    """One runner per server process: every tab and every rerun sees the same jobs. A bad
    ``$GAN_MAX_JOBS`` stops the page with the message instead of a traceback."""
    global _RUNNER
    try:
        _RUNNER = _process_runner()
        return _RUNNER
    except ValueError as exc:
        st.error(str(exc), icon="🚫")
        st.stop()


def get_store() -> RunStore:
    return get_runner().store


@st.cache_resource(show_spinner=False)
def device_name() -> str:
    device = resolve_device("auto")
    if device.type == "cuda":
        import torch

        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return {"mps": "Apple MPS", "cpu": "CPU"}[device.type]


# -- runs -------------------------------------------------------------------------------------
def status_text(info: dict) -> str:
    return f"{STATUS_ICONS.get(info['status'], '')} {info['status']}"


def run_label(info: dict) -> str:
    if info["status"] == "damaged":
        return f"{info['id']} · damaged"
    return f"{info['id']} · {info['status']} · epoch {info.get('epochs_done', 0)}/{info.get('epochs', '?')}"


def select_run(label: str, infos: list[dict], *, key: str, default: str | None = None, help: str | None = None,
               describe=run_label, on_change=None) -> str | None:
    """A run picker over ``infos`` (newest first); keeps its choice across reruns. ``on_change``: called when
    the user picks another run."""
    ids = [i["id"] for i in infos]
    if not ids:
        return None
    labels = {i["id"]: describe(i) for i in infos}
    if st.session_state.get(key) not in ids:
        st.session_state[key] = default if default in ids else ids[0]
    return st.selectbox(label, ids, key=key, format_func=labels.get, help=help, on_change=on_change)


class _Shared:
    """A small process-wide LRU of objects made by ``make(key)``, safe from any thread and free of Streamlit:
    the live view's data route (``live_payload``) reads it outside any script run, where ``st.cache_*``
    has no script context."""

    def __init__(self, make, max_entries: int):
        self._make, self._max, self._items, self._lock = make, max_entries, {}, threading.Lock()

    def __call__(self, key, *args):
        with self._lock:
            if key in self._items:
                self._items[key] = self._items.pop(key)  # the newest at the end
            else:
                self._items[key] = self._make(key, *args)
                while len(self._items) > self._max:
                    del self._items[next(iter(self._items))]
            return self._items[key]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_shared_history = _Shared(lambda run_path: IncrementalHistory(Run(Path(run_path))), max_entries=8)


def history(run: Run) -> dict[str, np.ndarray]:
    """The run's per-step metrics, shared by every tab of this server; each call reads only new steps."""
    return _shared_history(str(run.path)).update()


def config_of(info: dict) -> TrainConfig | None:
    try:
        return TrainConfig.from_dict(info["config"])
    except (KeyError, ConfigError):
        return None


def last_rate(columns: dict) -> float:
    rates = columns.get("images_per_s", np.empty(0))
    return float(rates[-1]) if rates.size and np.isfinite(rates[-1]) else 0.0


def eta(remaining_steps: int, config: TrainConfig | None, rate: float, active: bool) -> float | None:
    return eta_seconds(remaining_steps, config.batch_size, rate) if active and config is not None else None


def snapshot_grid(run: Run, epoch: int) -> np.ndarray:
    """The composed snapshot grid of ``epoch`` as a uint8 array."""
    return np.asarray(Image.open(run.snapshot_png(epoch)))


@st.cache_data(show_spinner=False, max_entries=32)
def _raw_and_averaged_grids(run_path: str, epoch: int, nrow: int) -> tuple[np.ndarray, np.ndarray]:
    raw, averaged = raw_and_averaged(Run(Path(run_path)), epoch)
    return grid_image(raw, nrow), grid_image(averaged, nrow)


def raw_and_averaged_grids(run: Run, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The snapshot noise through the raw and the averaged generator of a kept checkpoint, as grids."""
    return _raw_and_averaged_grids(str(run.path), epoch, run.config().grid_size)


# -- figures ----------------------------------------------------------------------------------
# The curve charts are built as plain dicts and wrapped by ``_figure``: Plotly's incremental API
# (add_trace, add_hline, update_layout) costs several times more, and the live view builds them
# every refresh. Their arrays are float32: half the bytes on the wire.
def _figure(spec: dict) -> go.Figure:
    """``spec`` as a figure, its properties not checked one by one: that check costs about 3 ms a chart (0.6 ms
    without), and the live view builds its charts at each refresh, on the cores that train. The specs come from
    the builders below, and tests/test_live_view.py validates every kind they make."""
    return go.Figure(spec, _validate=False)


def _x_epochs(columns: dict, steps_per_epoch: int) -> np.ndarray:
    return (columns["step"] / max(steps_per_epoch, 1)).astype(np.float32)


def _curve_traces(x, columns: dict, name: str, *, label: str | None = None, color: str | None = None,
                  band: bool = True, group: str | None = None) -> list[dict]:
    """The curve of ``columns[name]``, after its min-max band where the columns have one."""
    group = group or name
    color = color or COLORS.get(name)
    y = {k: np.asarray(columns[k], dtype=np.float32) for k in (name, f"{name}_min", f"{name}_max") if k in columns}
    traces = []
    if band and f"{name}_min" in y:
        # one closed polygon (along the maxima, back along the minima): one trace for Plotly to draw at each
        # refresh instead of two edges and a fill between them
        low, high = y[f"{name}_min"], y[f"{name}_max"]
        keep = np.isfinite(low) & np.isfinite(high)
        xs = np.asarray(x)[keep]
        traces.append(dict(type="scatter", x=np.concatenate([xs, xs[::-1]]),
                           y=np.concatenate([high[keep], low[keep][::-1]]), mode="lines", line=dict(width=0),
                           fill="toself", fillcolor=_transparent(color), hoverinfo="skip", showlegend=False,
                           legendgroup=group))
    traces.append(dict(type="scatter", x=x, y=y[name], mode="lines", name=label or LABELS.get(name, name),
                       line=dict(color=color, width=1.6), legendgroup=group, connectgaps=True))
    return traces


def _transparent(color: str | None) -> str:
    if not color or not color.startswith("#"):
        return "rgba(128,128,128,0.15)"
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},0.15)"


def _layout_props(*, title: str, y_title: str, revision: str, height: int = 320, x_title: str = "epoch") -> dict:
    return dict(title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=10), uirevision=revision,
                xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text=y_title)),
                legend=dict(orientation="h", y=-0.25), hovermode="x unified")


def _layout(fig: go.Figure, **props) -> go.Figure:
    fig.update_layout(**_layout_props(**props))
    return fig


def _event_marks(events: list[dict], steps_per_epoch: int) -> tuple[list[dict], list[dict]]:
    """Shapes and annotations: a dotted line where the learning rates were changed during a pause, or
    a sweep's PBT explored new values."""
    shapes, annotations = [], []
    for event in events:
        if event["kind"] in ("resume", "explore") and event["detail"]:
            x = event["step"] / max(steps_per_epoch, 1)
            shapes.append(dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                               line=dict(dash="dot", color="gray")))
            text = ", ".join(f"{k} → {v:g}" if isinstance(v, float) else f"{k} → {v}" for k, v in event["detail"].items())
            annotations.append(dict(xref="x", yref="paper", x=x, y=1, xanchor="right", yanchor="top", showarrow=False,
                                    text=text))
    return shapes, annotations


# The live view's curve charts hold their axes: each range is rounded out to a coarse grid, so it stays the same from
# one refresh to the next while the new points fall inside it, and the browser then moves the traces alone
# (``drawCurve`` in the live panel) instead of redrawing the whole chart (axes, ticks, legend, titles).
_X_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)  # the x axis's end: the curves fill 2/3 of it at the least
_Y_STEPS = (1.0, 2.0, 5.0, 10.0)  # the y axis's bounds: multiples of a step of about a fifth of the data's span
# a run of at most this many epochs holds x at its whole length from its first point: it lasts a few refreshes, and
# with the steps above its x axis would grow at nearly every one of them (a whole redraw each time)
SHORT_RUN_EPOCHS = 10


def _ceiling(value: float, steps: tuple[float, ...]) -> float:
    """The least ``m · 10^k`` that is at least ``value`` (> 0), ``m`` one of ``steps``."""
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in steps if m * scale >= value * (1 - 1e-9))


def held_ranges(x_end: float, y: list[np.ndarray], *, epochs: int) -> dict[str, list[float]]:
    """The live view's axis ranges for curves that reach epoch ``x_end`` through the values ``y``: x from 0 to the
    next of ``_X_STEPS``'s ends (at most ``epochs``, the run's length, once the curves are within it; the whole run
    from the start for a run of at most ``SHORT_RUN_EPOCHS``), y out to the multiples of ``_Y_STEPS``'s step around
    the finite values with 2% to spare, not below 0 where none is (no y range without finite values)."""
    end = _ceiling(max(x_end, 1e-3), _X_STEPS)
    if epochs <= SHORT_RUN_EPOCHS:
        end = max(end, epochs)
    ranges = {"x": [0.0, min(end, epochs) if 0 < x_end <= epochs else end]}
    finite = [v[np.isfinite(v)] for v in y]
    finite = [v for v in finite if v.size]
    if finite:
        low, high = float(min(v.min() for v in finite)), float(max(v.max() for v in finite))
        spare = 0.02 * ((high - low) or abs(high) or 1.0)
        low, high = (max(low - spare, 0.0) if low >= 0 else low - spare), high + spare
        step = _ceiling((high - low) / 5, _Y_STEPS)
        ranges["y"] = [math.floor(low / step) * step, math.ceil(high / step) * step]
    return ranges


def _curves_spec(columns: dict, names: tuple[str, ...], *, steps_per_epoch: int, events: list[dict],
                 max_points: int, hold_to: int | None = None, **layout) -> dict:
    """A figure dict of the ``names`` curves (downsampled to ``max_points``) with the event marks. ``hold_to``: the
    run's epochs, for the live view's held axes (``held_ranges``); None: the axes fit the data (Plotly's autorange)."""
    traces, shapes, annotations = [], [], []
    data = downsample({k: v for k, v in columns.items() if k in ("step", *names)}, max_points=max_points)
    props = _layout_props(**layout)
    if data:
        x = _x_epochs(data, steps_per_epoch)
        traces = [t for name in names if name in data for t in _curve_traces(x, data, name)]
        shapes, annotations = _event_marks(events, steps_per_epoch)
        if hold_to is not None and x.size:
            ranges = held_ranges(float(x[-1]), [t["y"] for t in traces], epochs=hold_to)
            for axis, span in ranges.items():
                props[f"{axis}axis"]["range"] = span
    return dict(data=traces, layout=dict(props, shapes=shapes, annotations=annotations))


def loss_figure(columns: dict, *, loss: str, steps_per_epoch: int, events: list[dict], revision: str,
                max_points: int = MAX_POINTS, hold_to: int | None = None) -> go.Figure:
    return _figure(_curves_spec(columns, ("d_loss_real", "d_loss_fake", "g_loss"), steps_per_epoch=steps_per_epoch,
                               events=events, max_points=max_points, hold_to=hold_to, title="Losses",
                               y_title=LOSSES[loss].unit, revision=revision))


def score_figure(columns: dict, *, loss: str, steps_per_epoch: int, events: list[dict], revision: str,
                 max_points: int = MAX_POINTS, hold_to: int | None = None) -> go.Figure:
    """Mean D(x) and D(G(z)): a probability with the 0.5 equilibrium line where the loss makes one."""
    curves = dict(steps_per_epoch=steps_per_epoch, events=events, max_points=max_points, revision=revision,
                  hold_to=hold_to)
    if not LOSSES[loss].probability:
        return _figure(_curves_spec(columns, ("d_real", "d_fake"), title="Critic's mean score, real and fake",
                                   y_title="score", **curves))
    spec = _curves_spec(columns, ("d_real", "d_fake"), title="D's probability that an image is real",
                        y_title="probability", **curves)
    layout = spec["layout"]
    layout["shapes"].append(dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=0.5, y1=0.5,
                                 line=dict(dash="dash", color="black")))
    # on a white ground: D(G(z))'s band runs under the label for most of a run
    layout["annotations"].append(dict(xref="paper", yref="y", x=1, y=0.5, xanchor="right", yanchor="top",
                                      showarrow=False, text="0.5: D cannot tell real from fake",
                                      bgcolor="rgba(255,255,255,0.85)"))
    layout["yaxis"]["range"] = [0, 1]
    return _figure(spec)


def wasserstein_figure(columns: dict, *, steps_per_epoch: int, events: list[dict], revision: str,
                       max_points: int = MAX_POINTS, hold_to: int | None = None) -> go.Figure:
    return _figure(_curves_spec(columns, ("wasserstein", "gradient_penalty"), steps_per_epoch=steps_per_epoch,
                               events=events, max_points=max_points, revision=revision, hold_to=hold_to,
                               title="Wasserstein estimate and gradient penalty", y_title="critic units"))


def overlay_figure(runs: list[tuple[str, dict, int]], metric: str) -> go.Figure:
    """One metric of several runs on one chart: ``runs`` are (label, columns, steps_per_epoch)."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    traces = []
    for i, (label, columns, steps_per_epoch) in enumerate(runs):
        data = downsample(columns, max_points=MAX_POINTS)
        if data:
            traces += _curve_traces(_x_epochs(data, steps_per_epoch), data, metric, label=label,
                                    color=palette[i % len(palette)], band=False, group=label)
    label = LABELS.get(metric, metric)  # on the axis too: not the column's name
    return go.Figure(dict(data=traces, layout=_layout_props(title=label, y_title=label, revision="overlay",
                                                           height=380)))


# -- the live view ------------------------------------------------------------------------------
# Watching must not slow the training it shows (they share the CPU): every tab watching a run shares
# one history, one set of figures and one grid PNG, and a tab refreshes only while it is visible.
@dataclasses.dataclass
class _LiveFigures:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    key: tuple = ()
    last_step: float = -1.0
    built: float = 0.0
    generation: int = 0  # counts the rebuilds: a browser that has this generation is not sent it again
    figures: dict = dataclasses.field(default_factory=dict)


_live_figures_of = _Shared(lambda run_path: _LiveFigures(), max_entries=8)


def live_figures(run: Run, config: TrainConfig, columns: dict, events: list[dict], *,
                 max_points: int = LIVE_POINTS) -> dict[str, go.Figure]:
    """The Train page's curve charts of ``run``: rebuilt when its data changed, at most once per
    ``REBUILD_S`` (a tab refreshing just after another reuses that tab's figures)."""
    cache = _live_figures_of(str(run.path))
    steps = columns.get("step", np.empty(0))
    last_step = float(steps[-1]) if steps.size else 0.0
    key = (run.id, config.loss, config.steps_per_epoch, len(events), max_points)
    with cache.lock:
        stale = cache.key != key or (cache.last_step != last_step and time.monotonic() - cache.built >= REBUILD_S)
        if stale:
            chart = dict(steps_per_epoch=config.steps_per_epoch, events=events, revision=run.id, max_points=max_points,
                         hold_to=config.epochs)
            figures = {"losses": loss_figure(columns, loss=config.loss, **chart),
                       "scores": score_figure(columns, loss=config.loss, **chart)}
            if "wasserstein" in columns:
                figures["wasserstein"] = wasserstein_figure(columns, **chart)
            cache.key, cache.last_step, cache.built, cache.figures = key, last_step, time.monotonic(), figures
            cache.generation += 1
        return cache.figures


def _encode_grid(key: tuple, grid: np.ndarray | None) -> tuple[bytes, int]:
    """PNG bytes and width of a live preview (``grid``) or of the stored snapshot of ``key`` (run folder, epoch, stored)."""
    run_path, epoch, _ = key
    if grid is None:
        data = Run(Path(run_path)).snapshot_png(int(epoch)).read_bytes()
        return data, Image.open(io.BytesIO(data)).width
    return png_bytes(grid, compress_level=1), grid.shape[1]  # encoded every 2 s while a job trains, on its cores


_grid_pngs = _Shared(_encode_grid, max_entries=64)


def _grid_png(run_path: str, epoch: float, grid: np.ndarray | None) -> tuple[bytes, int]:
    """PNG bytes and width of a live preview (``grid``) or of the stored snapshot ``epoch``: encoded once."""
    return _grid_pngs((run_path, epoch, grid is None), grid)


def grid_caption(epoch: float) -> str:
    """The live grid's caption: a snapshot's epoch, or the fractional epoch of a live preview."""
    label = f"epoch {epoch:g}" if float(epoch).is_integer() else f"epoch {epoch:.2f} (live)"
    return f"Fixed noise, {label}"


def live_grid(run: Run, progress) -> tuple[bytes, int, float] | None:
    """The newest fixed-noise grid of ``run`` as (PNG bytes, width, epoch): the job's live preview
    when this process trains it, else the newest snapshot in the store. Encoded once per grid."""
    if progress is not None and progress.grid is not None:
        return (*_grid_png(str(run.path), progress.grid_epoch, progress.grid), progress.grid_epoch)
    epochs = run.snapshot_epochs()
    if not epochs:
        return None
    return (*_grid_png(str(run.path), epochs[-1], None), epochs[-1])


PIXELATED = "<style>[data-testid='stImage'] img {image-rendering: pixelated}</style>"  # digits enlarged stay crisp

# The live curves, drawn in place. ``st.plotly_chart`` gives a chart a new element id whenever its figure
# changes, so at every refresh the browser threw the chart away and built a new one (Plotly.newPlot and
# Streamlit's theming of the figure). While a job trains, the Train page's curves go through this
# component instead: the same figure, drawn into the same <div> by ``Plotly.react``, which redraws what
# changed. Plotly is the copy Streamlit's own frontend ships (its PlotlyChart chunk sets window.Plotly).
_PLOTLY_JS = """
const plotly = (chunk) => {  // one import for every chart of the page
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__ganPlotly) {
    const main = document.querySelector('script[src*="/static/js/"]');
    window.__ganPlotly = import(new URL(chunk, main ? main.src : document.baseURI).href).then(() => window.Plotly);
  }
  return window.__ganPlotly;
};
"""
_LIVE_CHART_JS = _PLOTLY_JS + """

export default function ({ parentElement, data }) {
  if (!data.figure) {  // no chart: load Plotly while the browser is idle, before a job starts
    (window.requestIdleCallback || setTimeout)(() => plotly(data.plotly));
    return;
  }
  let chart = parentElement.querySelector("div.gan-live-chart");
  if (!chart) {
    chart = document.createElement("div");
    chart.className = "gan-live-chart";
    parentElement.appendChild(chart);
  }
  plotly(data.plotly).then((Plotly) => {
    const figure = JSON.parse(data.figure);
    figure.layout.width = chart.clientWidth || undefined;  // the column's width, read at each refresh
    return Plotly.react(chart, figure.data, figure.layout, data.config);
  }).catch((error) => { chart.textContent = `The chart could not be drawn: ${error}`; });
}
"""
_live_chart_component = st.components.v2.component("gan_dashboard_live_chart", js=_LIVE_CHART_JS,
                                                   isolate_styles=False)  # Plotly styles the page's DOM
_AXIS = dict(automargin=True, gridcolor="#e6eaf1", zerolinecolor="#e6eaf1", tickfont=dict(size=12),
             title=dict(font=dict(size=14)))
# Streamlit's light chart theme, the parts these charts use: the live charts look like the others
LIVE_TEMPLATE = dict(layout=dict(
    font=dict(family='"Source Sans", "Source Sans Pro", sans-serif', size=12, color="#808495"),
    title=dict(x=0, xanchor="left", font=dict(size=16, color="#31333F", weight="bold")),
    legend=dict(font=dict(size=12, color="#262730")), paper_bgcolor="white", plot_bgcolor="white",
    xaxis=dict(_AXIS, showgrid=False, title=dict(font=dict(size=14), standoff=20)), yaxis=_AXIS,
    hoverlabel=dict(font=dict(size=12))))


@functools.cache
def plotly_chunk() -> str | None:
    """The file name of the frontend chunk that holds Streamlit's Plotly (None: this build has none)."""
    found = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if found else None


_PAYLOADS: dict[int, tuple[go.Figure, dict]] = {}  # the newest payloads by figure: tabs sharing a figure share its JSON
_PAYLOADS_LOCK = threading.Lock()


def live_json(fig: go.Figure) -> str:
    """A figure as the live components draw it: its JSON (frames included), in Streamlit's chart style."""
    figure = fig.to_plotly_json()
    figure["layout"]["template"] = LIVE_TEMPLATE
    return plotly.io.to_json(figure, validate=False)


def live_chart_data(fig: go.Figure) -> dict:
    """What the live chart component is sent: the figure as JSON, in Streamlit's chart style."""
    with _PAYLOADS_LOCK:
        kept = _PAYLOADS.get(id(fig))
        if kept is not None and kept[0] is fig:
            return kept[1]
    data = {"figure": live_json(fig), "config": {"displaylogo": False}, "plotly": plotly_chunk()}
    with _PAYLOADS_LOCK:
        _PAYLOADS[id(fig)] = (fig, data)  # the figure is kept with it, so its id is not reused meanwhile
        while len(_PAYLOADS) > 16:
            del _PAYLOADS[next(iter(_PAYLOADS))]
    return data


def prefetch_plotly(*, key: str) -> None:
    """Load the live charts' Plotly in the browser while it is idle: on the Train page before a job starts,
    not in the first seconds of training, when it would take CPU from the training."""
    if plotly_chunk() is not None:
        _live_chart_component(key=key, data={"plotly": plotly_chunk()})


def curve_chart(fig: go.Figure, *, key: str, live: bool) -> None:
    """A curve chart of the live view: redrawn in place by each refresh while ``live`` (a job trains),
    else Streamlit's own chart (also where Plotly's chunk is not found)."""
    if live and plotly_chunk() is not None:
        _live_chart_component(key=key, data=live_chart_data(fig))
    else:
        st.plotly_chart(fig, key=key, config={"displaylogo": False})


# The live view's clock: a component (no iframe) that asks for a rerun of the fragment it is drawn
# in ``interval`` seconds after it last asked (so the view refreshes every ``interval``, not every
# interval plus the rerun's time), never before that rerun has been drawn, only while the tab is
# visible, and at once when the tab becomes visible again. Unlike ``st.fragment(run_every=...)`` it
# costs nothing in a hidden tab, and a server slower than the interval is not sent a queue of reruns.
_REFRESH_JS = """
export default function ({ parentElement, data, setTriggerValue }) {
  const state = parentElement.__refresh || (parentElement.__refresh = {});
  const stop = () => { clearTimeout(state.timer); clearTimeout(state.retry); };
  state.fire = () => {
    stop();
    state.asked = Date.now();
    // a rerun that never comes back (a lost message, a reconnect) would stop the clock: ask again later
    state.retry = setTimeout(state.fire, Math.max(10000, 3000 * data.interval));
    setTriggerValue("tick", Date.now());
  };
  stop();
  if (!state.onVisibility) {
    state.onVisibility = () => document.visibilityState === "visible" ? state.fire() : stop();
    document.addEventListener("visibilitychange", state.onVisibility);
  }
  if (document.visibilityState === "visible" && data.interval > 0) {
    const since = state.asked ? Date.now() - state.asked : 0;
    state.timer = setTimeout(state.fire, Math.max(0, data.interval * 1000 - since));
  }
  return () => {
    stop();
    document.removeEventListener("visibilitychange", state.onVisibility);
    state.onVisibility = null;
  };
}
"""
_refresh_component = st.components.v2.component("gan_dashboard_refresh", js=_REFRESH_JS)


def refresh_after(interval_s: float | None, *, key: str) -> None:
    """Rerun the enclosing fragment ``interval_s`` seconds from now while the tab is visible (None: don't)."""
    _refresh_component(key=key, data={"interval": interval_s or 0, "drawn": time.time()}, on_tick_change=lambda: None)


def refresh_interval(status: str, chosen: float) -> float | None:
    """How long the live view waits between refreshes: the user's choice while a job trains, longer
    while it waits or is paused (only its status can change), none once it has ended."""
    if status in ("running", "starting"):
        return chosen
    if status in ACTIVE:
        return max(chosen, IDLE_REFRESH_S)
    return None


# -- the live view without reruns ----------------------------------------------------------------
# A Streamlit rerun of the live fragment costs the browser 100-160 ms of CPU even when nothing in it
# changed (its frontend handling the rerun), on the cores that train. So while a job trains, and where the
# dashboard serves its data route (``dashboard.py`` as an ``st.App``: ``live_route_served``), the Train page
# draws the progress line, the curves and the grid in one component that fetches ``live_payload`` from
# ``/api/live/<run>`` and draws it in place: no rerun. When what the page draws around it changes (the
# status, an evaluation, a snapshot, an alarm, an event mark), the payload's ``version`` differs from the
# one the component was drawn with, and it asks for one rerun of its fragment.
@dataclasses.dataclass
class LiveState:
    """What the live view shows of one run now, read the same way by the fragment and by the data route."""

    run: Run
    info: dict
    own: bool  # trained by this process's runner
    progress: object | None
    status: str
    config: TrainConfig | None
    columns: dict
    events: list
    step: int
    steps_total: int
    text: str  # the progress line

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def fraction(self) -> float:
        return min(self.step / self.steps_total, 1.0) if self.steps_total else 0.0


def live_state(run: Run, runner: JobRunner) -> LiveState:
    info = run.info()
    own = runner.has_job(run.id)
    progress = runner.progress(run.id) if own else None
    status = progress.status if progress is not None and progress.active else info["status"]
    active = status in ACTIVE
    config = config_of(info)
    steps_total = config.epochs * config.steps_per_epoch if config else 0
    step = progress.step if progress is not None else info.get("step", 0)
    columns = history(run)
    rate = progress.images_per_s if progress is not None else last_rate(columns)
    remaining = progress.eta_s if progress is not None else eta(steps_total - step, config, rate, active)
    epoch_text = f"epoch {progress.epoch if progress else info.get('epochs_done', 0)}/{config.epochs if config else '?'}"
    text = (f"{status_text({'status': status})} · {epoch_text} · step {step:,}/{steps_total:,} · {rate:,.0f} images/s · "
            f"ETA {duration_text(remaining) if active else '–'}"
            + (f" · {info['device']}, {info['acceleration']}" if info.get("acceleration") else ""))
    return LiveState(run, info, own, progress, status, config, columns, run.events(), step, steps_total, text)


def quality_version(run: Run, events: list[dict], *, charts: bool = True) -> tuple:
    """What the Train page's quality section shows: the evaluated and the snapshot epochs (unless ``charts`` is
    False: the live panel draws those charts), and the alarms."""
    alarms = sum(event["kind"] == "alarm" for event in events)
    if not charts:
        return (alarms,)
    return tuple(run.evaluation_epochs()), tuple(run.discriminator_epochs()), alarms


def page_status(status: str | None) -> str | None:
    """A job's status as the page around the live view draws it: "starting" (loading its data, building its
    models) as "running". Pause works from the start (the job pauses before its first step), and the switch to
    "running" comes just before the epoch-0 snapshot, so a page rerun for it would fall in the job's first seconds
    of training; the panel's progress line shows the exact status, drawn in place."""
    return "running" if status == "starting" else status


def live_version(state: LiveState) -> str:
    """Everything the page draws around the live panel: when it changes, the panel asks for a rerun. The
    quality charts are not in it: the panel draws them from its payload (``quality_panel``), so a new
    evaluation or snapshot costs no page rerun while the job trains."""
    return json.dumps([page_status(state.status), page_status(state.progress.status if state.progress is not None else None),
                       len(state.events), "wasserstein" in state.columns, state.config is not None])


def _quality_panel(key: tuple) -> tuple[str, str]:
    run_path, evaluated, snapshots = key
    run, figures, caption = Run(Path(run_path)), {}, ""
    if evaluated:
        evaluations = run.evaluations()
        figures["quality"] = live_json(quality_figure(evaluations))
        figures["histogram"] = live_json(histogram_figure(evaluations[evaluated[-1]], evaluated[-1]))
    if snapshots:
        fig = discriminator_figure(run.discriminator_outputs())
        figures["discriminator"] = live_json(fig)
        caption = discriminator_caption(fig)
    charts = ", ".join(f"{json.dumps(name)}: {text}" for name, text in figures.items())
    quality_id = json.dumps([evaluated, snapshots])
    return quality_id, f'{{"id": {json.dumps(quality_id)}, "figures": {{{charts}}}, "caption": {json.dumps(caption)}}}'


_quality_panels = _Shared(_quality_panel, max_entries=16)


def quality_panel(run: Run) -> tuple[str, str] | None:
    """The quality section's charts as the live panel draws them (the metric curves, the newest class histogram,
    D's outputs with its slider): (their id: the epochs they show, a JSON object of the id, the figures and D's
    caption), built once per new evaluation or snapshot for every tab. None: nothing evaluated or snapshotted yet."""
    key = (str(run.path), tuple(run.evaluation_epochs()), tuple(run.discriminator_epochs()))
    return _quality_panels(key) if key[1] or key[2] else None


def live_route_served() -> bool:
    """Whether this server serves ``/api/live``: ``streamlit run dashboard.py`` imports dashboard.py as an
    ``st.App`` with that route. (AppTest, or a Streamlit that runs the script bare, does not: the live view
    then refreshes by reruns, as it does with ``GAN_LIVE_ROUTE=0``, for a comparison.)"""
    if os.environ.get("GAN_LIVE_ROUTE") == "0":
        return False
    dashboard = sys.modules.get("dashboard")
    return getattr(dashboard, "LIVE_ROUTE", None) is not None


def live_payload(state: LiveState, *, have_figures: str = "", have_grid: str = "", have_quality: str = "",
                 version: str | None = None) -> bytes:
    """The live panel's data as JSON: the version, the progress line, the curve figures (unless the browser has
    this generation of them), the grid (unless it has this one) and the quality charts (unless it has these:
    ``quality_panel``'s id). The figures' JSON is the same text every tab is sent (``live_chart_data``): it is
    spliced in, not parsed and encoded again. ``version``: the ``live_version`` already read for this state
    (None: read it)."""
    version = live_version(state) if version is None else version
    head = {"version": version, "status": state.status, "text": state.text, "fraction": state.fraction}
    parts = [json.dumps(head)[:-1]]
    if state.config is not None:
        cache = _live_figures_of(str(state.run.path))
        figures = live_figures(state.run, state.config, state.columns, state.events)
        with cache.lock:
            generation = str(cache.generation) if cache.figures is figures else ""
        if not generation or generation != have_figures:
            charts = ", ".join(f"{json.dumps(name)}: {live_chart_data(fig)['figure']}" for name, fig in figures.items())
            parts.append(f', "figures_id": {json.dumps(generation)}, "figures": {{{charts}}}')
        grid = live_grid(state.run, state.progress)
        if grid is not None:
            png, width, epoch = grid
            key = f"{epoch!r}"
            if key != have_grid:
                parts.append(", " + json.dumps({"grid": {
                    "key": key, "width": 2 * width, "caption": grid_caption(epoch),
                    "src": "data:image/png;base64," + base64.b64encode(png).decode()}})[1:-1])
        # the quality section lies below the grid, so it comes with a grid or after it: at a snapshot whose
        # evaluation runs inline (the last, or without the thread governor) the run's evaluation is stored before
        # its grid (the evaluator is called first and takes about a second), and a section drawn without the grid
        # above it is pushed down when the grid comes (off screen, it was drawn for nothing: the panel draws it only
        # where it is seen); one beside the training (``Trainer.beside``) arrives after the grid, at a later refresh
        quality = quality_panel(state.run) if grid is not None else None
        if quality is not None and quality[0] != have_quality:
            parts.append(f', "quality": {quality[1]}')
    return ("".join(parts) + "}").encode()


def live_response(run_id: str, query: dict) -> tuple[int, bytes]:
    """``GET /api/live/<run_id>?figures=..&grid=..`` (dashboard.py checks the Host first): (HTTP status, JSON)."""
    runner = _RUNNER
    if runner is None:
        return 503, b'{"error": "no page has been served yet"}'
    try:
        state = live_state(runner.store.open(run_id), runner)
    except (KeyError, OSError, ValueError) as exc:
        return 404, json.dumps({"error": str(exc)}).encode()
    return 200, live_payload(state, have_figures=str(query.get("figures", "")), have_grid=str(query.get("grid", "")),
                             have_quality=str(query.get("quality", "")))


# how the live panel draws a chart: ``redraw`` (from scratch), ``drawCurve`` (a curve chart, in place); also in
# benchmarks/chart_redraw.py
_DRAW_JS = """
// ``figure`` drawn in ``chart`` from scratch (its frames too: D's slider)
const redraw = (Plotly, chart, figure, config) => Plotly.react(chart, {...figure, config});

// the numbers of a figure's array: a typed-array spec (``{dtype: "f4", bdata}``, as the server sends its curves) or a
// plain array; null for any other kind
const numbers = (values) => {
  if (Array.isArray(values) || ArrayBuffer.isView(values)) return values;
  if (!values || values.dtype !== "f4" || typeof values.bdata !== "string") return null;
  const text = atob(values.bdata);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Float32Array(bytes.buffer);
};

// ``chart``'s traces moved to the points of ``data`` ({x, y} per trace) by setting their SVG paths: while the axes hold,
// the paths are all that a move changes, and Plotly's own move (``Plotly.animate``: its defaults for every attribute
// of the figure, the points' data, the paths) took about twice the browser's CPU, much of it collecting the 6 MB it
// allocates per refresh (benchmarks/chart_redraw.py). The points go into the chart's data too (``chart.data``: what
// Plotly's image export and its next drawing read); its hover and zoom read Plotly's own copy, which ``syncTraces``
// brings up to date when the pointer comes onto the chart. Returns false, with nothing changed, where the chart is
// not drawn as this expects (not linear axes, a trace not drawn as one line, a point-less curve, another Plotly).
const moveTraces = (chart, data) => {
  const layout = chart._fullLayout || {}, traces = chart._fullData || [];
  const xaxis = layout.xaxis, yaxis = layout.yaxis;
  if (!xaxis || !yaxis || xaxis.type !== "linear" || yaxis.type !== "linear" || typeof xaxis.c2p !== "function"
      || typeof yaxis.c2p !== "function" || traces.length !== data.length || chart.data.length !== data.length) {
    return false;
  }
  const groups = new Map();  // each drawn trace's <g>, by its index (d3 binds the trace's points to it)
  for (const group of chart.querySelectorAll(".scatterlayer g.trace")) {
    const bound = group.__data__;
    if (bound && bound[0] && bound[0].trace) groups.set(bound[0].trace.index, group);
  }
  const paths = [], points = [];
  for (let i = 0; i < data.length; i++) {
    const trace = traces[i], x = numbers(data[i].x), y = numbers(data[i].y);
    if (trace.type !== "scatter" || !x || !y || x.length !== y.length) return false;
    points.push([x, y]);
    if (trace.visible !== true) continue;  // hidden from the legend: not drawn
    const group = groups.get(i);
    const lines = group ? group.querySelectorAll("g.lines path.js-line") : [];
    const fill = trace.fill === "toself" && group ? group.querySelector("g.fills path.js-fill") : null;
    if (!group || lines.length !== 1 || (trace.fill !== "none" && !fill) || (trace.mode || "").includes("markers")) {
      return false;
    }
    let path = "";
    for (let k = 0; k < x.length; k++) {  // Plotly's line: "M" x,y "L" x,y ..., pixels to 2 decimals (its c2p)
      const across = xaxis.c2p(x[k]), up = yaxis.c2p(y[k]);
      if (Number.isFinite(across) && Number.isFinite(up)) path += (path ? "L" : "M") + across + "," + up;
    }
    if (!path) return false;
    paths.push([lines[0], path]);
    if (fill) paths.push([fill, path + "Z"]);
  }
  for (const [element, path] of paths) element.setAttribute("d", path);
  points.forEach(([x, y], i) => Object.assign(chart.data[i], {x, y}));
  chart.ganStale = true;
  return true;
};

// Plotly's own move of ``chart``'s traces to ``data``, the axes left as they are
const animateTraces = (Plotly, chart, data) => Plotly.animate(chart, {data, traces: data.map((_, i) => i)},
  {transition: {duration: 0}, frame: {duration: 0, redraw: false}, mode: "immediate"});

// Plotly's copy of the points brought up to the chart's data after direct moves: before the pointer hovers, zooms or
// clicks the legend (each reads that copy)
const syncTraces = (Plotly, chart) => {
  if (!chart.ganStale) return;
  chart.ganStale = false;
  animateTraces(Plotly, chart, chart.data.map(({x, y}) => ({x, y})));
};

// a curve chart's new ``figure``: when only its points changed since the last drawing (the same layout, with the
// axes the server held, and the same traces), the traces alone are moved to them (``moveTraces``; under the pointer,
// by Plotly), which redraws no axes, ticks, legend or titles; else, or where the user let an axis fit the data (a
// double click), the whole chart is redrawn. An axis the user zoomed, panned or fitted keeps the user's range: the
// server's goes only where the user left the axis as it was sent. ``direct``: false, every move by Plotly (a benchmark's
// comparison).
const drawCurve = (Plotly, chart, figure, config, {direct = true} = {}) => {
  const {data, layout} = figure;
  const sent = chart.ganSent || {};
  chart.ganSent = {};
  for (const axis of ["xaxis", "yaxis"]) {
    const shown = (chart.layout || {})[axis];
    chart.ganSent[axis] = layout[axis].range;
    if (sent[axis] && shown && JSON.stringify(shown.range) !== JSON.stringify(sent[axis])) {
      layout[axis] = {...layout[axis], range: shown.range, autorange: shown.autorange};
    }
  }
  if (!chart.ganSync) {  // pointer events come from a mouse, a pen or a touch alike
    chart.ganSync = () => syncTraces(Plotly, chart);
    for (const event of ["pointerenter", "pointerdown"]) chart.addEventListener(event, chart.ganSync, {passive: true});
  }
  const key = JSON.stringify([layout, data.map(({x, y, ...rest}) => rest)]);
  const axes = chart._fullLayout || {};
  const held = axes.xaxis && axes.xaxis.autorange === false && axes.yaxis && axes.yaxis.autorange === false;
  const moving = key === chart.ganKey && held, points = data.map(({x, y}) => ({x, y}));
  if (moving && direct && !chart.matches(":hover") && moveTraces(chart, points)) return Promise.resolve();
  chart.ganStale = false;  // Plotly draws the points now
  if (moving) return animateTraces(Plotly, chart, points);
  chart.ganKey = key;
  return redraw(Plotly, chart, figure, config);
};
"""
_LIVE_PANEL_JS = _PLOTLY_JS + _DRAW_JS + """
const make = (parent, tag, className) => {
  const element = document.createElement(tag);
  element.className = className;
  parent.appendChild(element);
  return element;
};

// each figure of ``figures`` (name: figure) drawn in place with ``draw``, in its own chart of ``parent``; ``wide``: the
// one that takes the whole row; ``data``: the panel's, with Plotly's config and chunk
const drawCharts = (parent, figures, wide, data, draw) => plotly(data.plotly).then((Plotly) =>
  Promise.all(Object.entries(figures).map(([name, figure]) => {
    let chart = parent.querySelector(`div.gan-live-chart[data-name="${name}"]`);
    if (!chart) {
      chart = make(parent, "div", "gan-live-chart");
      chart.dataset.name = name;
      if (name === wide) chart.style.gridColumn = "1 / -1";
    }
    figure.layout.width = chart.clientWidth || undefined;  // the column's width, read at each drawing
    return draw(Plotly, chart, figure, data.config);
  })));

const drawQuality = (s) => {
  const quality = s.qualityPending;
  if (!quality) return Promise.resolve();
  s.qualityPending = null;
  return drawCharts(s.qualityCharts, quality.figures, "discriminator", s.data, redraw).then(() => {
    s.qualityCaption.textContent = quality.caption;
    s.quality.style.minHeight = "";
  }).catch((error) => { s.qualityCaption.textContent = `The quality charts could not be drawn: ${error}`; });
};

// whether some of ``element`` lies in the window
const onScreen = (element) => {
  const place = element.getBoundingClientRect();
  return place.bottom > 0 && place.top < window.innerHeight;
};

// the newest curve figures, if their charts are on screen (or not drawn yet): drawn now, else when scrolled back to.
// A tab scrolled down to the grid or the quality charts redraws no curves while it stays there.
const drawCurves = (s) => {
  const figures = s.curvesPending;
  if (!figures) return Promise.resolve();
  if (s.charts.childElementCount && !onScreen(s.charts)) return Promise.resolve();
  s.curvesPending = null;
  return drawCharts(s.charts, figures, "wasserstein", s.data, drawCurve);
};

// the quality charts, if their place is on screen once what is above it has been drawn (only then is their place
// known): drawn now, else when scrolled to
const showQuality = (s) => (s.drawing || Promise.resolve()).then(() => {
  if (s.qualityPending && onScreen(s.quality)) return drawQuality(s);
});

export default function ({ parentElement, data, setTriggerValue }) {
  const s = parentElement.__live || (parentElement.__live = {failures: 0});
  s.data = data;
  if (!s.root) {
    s.root = make(parentElement, "div", "gan-live-panel");
    const progress = make(s.root, "div", "gan-live-progress");
    s.text = make(progress, "div", "gan-live-progress-text");
    s.bar = make(make(progress, "div", "gan-live-progress-track"), "div", "gan-live-progress-bar");
    s.charts = make(s.root, "div", "gan-live-charts");
    s.caption = make(s.root, "div", "gan-live-caption");
    const figure = make(s.root, "figure", "gan-live-figure");
    s.img = make(figure, "img", "gan-live-grid");
    s.img.alt = "fixed-noise grid";
    s.imgCaption = make(figure, "figcaption", "gan-live-caption");
    // the quality charts: drawn when their place is on screen (an evaluation below the fold costs the browser
    // nothing until the user scrolls to it), then redrawn at each new evaluation or snapshot
    s.quality = make(s.root, "div", "gan-live-quality");
    s.qualityCharts = make(s.quality, "div", "gan-live-charts");
    s.qualityCaption = make(s.quality, "div", "gan-live-caption");
    s.observer = new IntersectionObserver((entries) => entries[entries.length - 1].isIntersecting && showQuality(s));
    s.observer.observe(s.quality);
    s.curvesObserver = new IntersectionObserver((entries) => entries[entries.length - 1].isIntersecting &&
      drawCurves(s).catch((error) => { s.caption.textContent = `The charts could not be drawn: ${error}`; }));
    s.curvesObserver.observe(s.charts);
  }
  s.caption.innerHTML = data.caption;
  const stop = () => clearTimeout(s.timer);
  const stale = () => { stop(); s.asked = Date.now(); setTriggerValue("stale", Date.now()); };
  const apply = (state) => {
    s.text.textContent = state.text;
    s.bar.style.width = `${(100 * state.fraction).toFixed(2)}%`;
    const drawn = [];
    if (state.figures) {
      s.figuresId = state.figures_id;
      s.curvesPending = state.figures;
      drawn.push(drawCurves(s));
    }
    if (state.quality && state.quality.id !== s.qualityId) {
      s.qualityId = state.quality.id;
      s.qualityPending = state.quality;
      s.quality.style.minHeight = "48rem";  // its place, until it is drawn
    }
    if (state.grid) {
      s.gridKey = state.grid.key;
      s.img.src = state.grid.src;
      s.img.style.width = `${state.grid.width}px`;
      s.imgCaption.textContent = state.grid.caption;
      drawn.push(s.img.decode().catch(() => null));  // its height is known once decoded
    }
    s.drawing = Promise.all(drawn);
    return showQuality(s);
  };
  const poll = async () => {
    stop();
    if (document.visibilityState !== "visible") return;  // shown again: visibilitychange polls at once
    s.asked = Date.now();
    const query = new URLSearchParams({figures: s.figuresId || "", grid: s.gridKey || "", quality: s.qualityId || ""});
    try {
      const response = await fetch(`${data.url}?${query}`, {cache: "no-store"});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const state = await response.json();
      if (state.version !== s.data.version) return stale();  // the page around the panel changed: rerun it
      await apply(state);
      s.failures = 0;
    } catch (error) {
      if (++s.failures >= 2) return stale();  // no data route: refresh by reruns, as without it
    }
    schedule();
  };
  const schedule = () => {
    stop();
    if (document.visibilityState !== "visible" || !(s.data.interval > 0)) return;
    const since = s.asked ? Date.now() - s.asked : 0;
    s.timer = setTimeout(poll, Math.max(0, s.data.interval * 1000 - since));
  };
  s.onVisibility && document.removeEventListener("visibilitychange", s.onVisibility);
  s.onVisibility = () => document.visibilityState === "visible" ? poll() : stop();
  document.addEventListener("visibilitychange", s.onVisibility);
  apply(JSON.parse(data.state)).catch((error) => { s.charts.textContent = `The charts could not be drawn: ${error}`; });
  schedule();
  return () => {
    stop();
    document.removeEventListener("visibilitychange", s.onVisibility);
    s.onVisibility = null;
  };
}
"""
_LIVE_PANEL_CSS = """
.gan-live-progress-text { font-size: 0.875rem; margin-bottom: 0.25rem; }
.gan-live-progress-track { height: 0.5rem; border-radius: 0.25rem; background: #f0f2f6; overflow: hidden; }
.gan-live-progress-bar { height: 100%; background: #ff4b4b; }
/* two charts a row where each gets 280 px (their titles and legends fit), else one: a narrow window stacks them */
.gan-live-charts {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; margin-top: 1rem;
}
.gan-live-caption { font-size: 0.875rem; color: rgba(49, 51, 63, 0.6); margin: 0.5rem 0; }
.gan-live-figure { margin: 0; }
.gan-live-grid { image-rendering: pixelated; max-width: 100%; }
.gan-live-quality { margin-top: 1rem; }
"""
_live_panel_component = st.components.v2.component("gan_dashboard_live_panel", js=_LIVE_PANEL_JS, css=_LIVE_PANEL_CSS,
                                                   isolate_styles=False)  # Plotly styles the page's DOM


def live_panel(state: LiveState, *, interval_s: float | None, key: str) -> None:
    """The live view of a training run (the progress line, the curves, the grid) as one component that
    fetches its data from the data route every ``interval_s`` while the tab is visible."""
    loss = LOSSES[state.config.loss]
    caption = f"<b>{html.escape(state.config.loss)}</b> · {html.escape(loss.healthy)}"
    version = live_version(state)  # read once: the panel's and its first payload's are the same
    _live_panel_component(key=key, on_stale_change=lambda: None, data={
        "url": f"/api/live/{state.run.id}", "interval": interval_s or 0, "version": version,
        "state": live_payload(state, version=version).decode(), "plotly": plotly_chunk(), "config": {"displaylogo": False},
        "caption": caption})


# -- following new runs ---------------------------------------------------------------------------
# A Train tab that watches no live run (none yet, or one that has ended) notices a run that starts in another
# tab or process without a Streamlit rerun per check: a component fetches the live runs' ids from
# ``/api/runs/live`` every ``interval`` seconds while the tab is visible (a small JSON answer, nothing drawn), and
# asks for one page rerun when an id it was not drawn with appears. The page then follows the new run, unless
# the user picked the run this tab shows, in which case it offers it.
def live_run_ids(infos: list[dict]) -> list[str]:
    """The ids of the runs now queued, running or paused, newest first (``infos`` as ``RunStore.list`` gives)."""
    return [info["id"] for info in infos if is_live(info)]


def live_runs_response() -> tuple[int, bytes]:
    """``GET /api/runs/live`` (dashboard.py checks the Host first): (HTTP status, JSON ``{"live": [ids]}``)."""
    runner = _RUNNER
    if runner is None:
        return 503, b'{"error": "no page has been served yet"}'
    return 200, json.dumps({"live": live_run_ids(runner.store.list())}).encode()


_FOLLOW_JS = """
export default function ({ parentElement, data, setTriggerValue }) {
  const s = parentElement.__follow || (parentElement.__follow = {failures: 0});
  s.data = data;
  const stop = () => clearTimeout(s.timer);
  const poll = async () => {
    stop();
    if (document.visibilityState !== "visible") return;  // shown again: visibilitychange polls at once
    try {
      const response = await fetch(s.data.url, {cache: "no-store"});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const {live} = await response.json();
      s.failures = 0;
      if (live.some((id) => !s.data.known.includes(id))) return setTriggerValue("started", live.join(","));
    } catch (error) {
      if (++s.failures >= 3) return;  // no data route (the page run bare): this tab does not follow
    }
    schedule();
  };
  const schedule = () => {
    stop();
    if (document.visibilityState === "visible") s.timer = setTimeout(poll, s.data.interval * 1000);
  };
  s.onVisibility && document.removeEventListener("visibilitychange", s.onVisibility);
  s.onVisibility = () => document.visibilityState === "visible" ? poll() : stop();
  document.addEventListener("visibilitychange", s.onVisibility);
  schedule();
  return () => {
    stop();
    document.removeEventListener("visibilitychange", s.onVisibility);
    s.onVisibility = null;
  };
}
"""
_follow_component = st.components.v2.component("gan_dashboard_follow", js=_FOLLOW_JS)


def follow_runs(known: list[str], *, interval_s: float, key: str) -> None:
    """Rerun the page when a run not in ``known`` (the live runs it was drawn with) goes live; only where the
    dashboard serves ``/api/runs/live`` (``live_route_served``), and only while the tab is visible."""
    if live_route_served():
        data = {"url": "/api/runs/live", "known": list(known), "interval": interval_s,
                "drawn": time.time()}  # each page run draws it anew
        _follow_component(key=key, data=data, on_started_change=lambda: None)


def followed_run(live_ids: list[str], *, seen: list[str] | None, watching: str | None,
                 pinned: bool) -> tuple[str | None, list[str]]:
    """Which new run a Train tab switches to, and which it offers instead: ``live_ids`` are the live runs now,
    ``seen`` those of the tab's previous page run (None on its first), ``watching`` the run it shows (one it
    has just started is not news to it), ``pinned`` whether the user picked that run. Returns
    ``(follow, offered)``: the newest run that went live since, unless the user picked the run the tab shows or
    that run is live itself (then the new ones are offered)."""
    new = [run_id for run_id in live_ids if seen is not None and run_id not in seen and run_id != watching]
    if not new:
        return None, []
    return (None, new) if pinned or watching in live_ids else (new[0], [])


def scaled(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so that small digits stay crisp in the browser."""
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))


# -- the config form --------------------------------------------------------------------------
SECTIONS = {
    "Model": ("family", "loss", "conditional", "clusters", "noise", "noise_dim", "hidden", "dense", "leaky_slope", "dropout"),
    "Training": ("epochs", "batch_size", "lr_g", "lr_d", "real_label", "d_steps", "gp_weight", "ema_halflife",
                 "spectral_norm", "mode_seeking", "aux_classifier", "r1_gamma"),
    "Advanced": ("beta1_g", "beta2_g", "beta1_d", "beta2_d", "ema_rampup", "r1_every", "train_split", "train_images", "seed", "device",
                 "snapshot_epochs", "grid_size", "eval_samples", "checkpoint_every", "data_dir"),
}
# widget bounds tighter than the config allows, where a slider needs them; None: a number box
SLIDERS = {
    "noise_dim": (1, 256, 1), "clusters": (0, 200, 1), "hidden": (8, 1024, 8), "dense": (0, 2048, 64), "leaky_slope": (0.0, 1.0, 0.01), "dropout": (0.0, 0.9, 0.05),
    "epochs": (1, 1000, 1), "real_label": (0.05, 1.0, 0.05), "d_steps": (1, 10, 1), "grid_size": (2, 16, 1),
    "gp_weight": (0.0, 50.0, 0.5),
    "beta1_g": (0.0, 0.99, 0.01), "beta1_d": (0.0, 0.99, 0.01), "beta2_g": (0.9, 0.999, 0.001), "beta2_d": (0.9, 0.999, 0.001),
    "train_images": (1000, 60000, 1000), "ema_halflife": (0, 100_000, 1000), "ema_rampup": (0.0, 1.0, 0.01),
    "mode_seeking": (0.0, 1.0, 0.05), "aux_classifier": (0.0, 2.0, 0.05), "r1_gamma": (0.0, 2.0, 0.05),
}
BATCH_SIZES = [16, 32, 50, 64, 100, 128, 200, 256, 500, 1000]
REGISTRIES = {"family": FAMILIES, "loss": LOSSES}


def _field_widget(f: dataclasses.Field, value, key: str):
    name, meta = f.name, f.metadata
    label, help = _label(name), meta["help"]
    if name in REGISTRIES or meta["choices"]:
        options = sorted(REGISTRIES[name]) if name in REGISTRIES else list(meta["choices"])
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key, help=help)
    if field_kind(f) is bool:
        return st.toggle(label, value, key=key, help=help)
    if name == "batch_size":
        options = sorted({*BATCH_SIZES, value})
        return st.select_slider(label, options, value=value, key=key, help=help)
    if name == "snapshot_epochs":
        text = st.text_input("snapshot epochs", ", ".join(map(str, value or ())), key=key,
                             help=help, placeholder="empty: " + ", ".join(map(str, REPORT_SNAPSHOT_EPOCHS)) + " (+ last)")
        try:
            return parse_epochs(text) or None
        except ValueError:
            return text  # left to validation, which names the field
    if field_kind(f) is str:
        return st.text_input(label, value, key=key, help=help)
    if name in SLIDERS:
        low, high, step = SLIDERS[name]
        return st.slider(label, low, high, min(max(value, low), high), step, key=key, help=help)
    # number boxes have no bounds: a value out of range is kept as typed and validation names the field
    # and its range (a bounded box would clamp it silently)
    if field_kind(f) is float:  # learning rates: small numbers, typed
        return st.number_input(label, value=float(value), step=1e-4, format="%.5f", key=key, help=help)
    return st.number_input(label, value=value, step=1, key=key, help=help)


def _label(name: str) -> str:
    """``lr_g`` -> ``lr (G)``: which network a field belongs to, at a glance."""
    for suffix, network in (("_g", "G"), ("_d", "D")):
        if name.endswith(suffix):
            return f"{name[:-2].replace('_', ' ')} ({network})"
    return name.replace("_", " ")


def config_form(base: TrainConfig, *, key: str) -> dict:
    """Widgets for the config fields that apply to the chosen family and loss, grouped; the others
    keep ``base``'s values. Returns the raw values (validate them next)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    values = base.to_dict()
    shown = None  # known once family and loss (the first two widgets) are chosen
    for section, names in SECTIONS.items():
        with st.expander(section, expanded=section != "Advanced"):
            columns, drawn = st.columns(2), 0
            # switches below the two columns, a row each: in half a column their labels were cut ("condit…")
            switches = st.container()
            for name in names:
                if shown is not None and name not in shown:
                    continue
                switch = field_kind(fields[name]) is bool
                with switches if switch else columns[drawn % 2]:
                    values[name] = _field_widget(fields[name], getattr(base, name), f"{key}-{name}")
                drawn += not switch
                if name == "loss":
                    shown = applicable_fields(values["family"], values["loss"])
    return values


def validated(values: dict) -> TrainConfig | None:
    """The config, or None after showing one ``st.error`` per bad field."""
    try:
        return TrainConfig.from_dict(values)
    except ConfigError as exc:
        for message in exc.errors.values():
            st.error(message, icon="🚫")
        return None


# the fields a step's cost depends on: the estimate is measured once per combination
SPEED_FIELDS = ("family", "loss", "conditional", "clusters", "hidden", "dense", "noise_dim", "batch_size", "d_steps", "device",
                "spectral_norm", "ema_halflife")


@st.cache_data(show_spinner="Measuring this machine's speed…", max_entries=64)
def estimated_images_per_s(fields: tuple[tuple[str, object], ...]) -> float:
    return measure_images_per_s(preset("report-2019", **dict(fields)), seconds=0.25)  # about a second in all


def time_estimate(config: TrainConfig) -> float:
    rate = estimated_images_per_s(tuple((name, getattr(config, name)) for name in SPEED_FIELDS))
    return config.epochs * config.steps_per_epoch * config.batch_size / rate


def preset_names() -> list[str]:
    return sorted(PRESETS, key=lambda n: (n != "report-2019", n))


def is_live(info: dict) -> bool:
    return info.get("status") in LIVE_STATUSES


# -- quality metrics --------------------------------------------------------------------------
QUALITY = {  # metric: (label, axis) — FID on its own axis, the bounded scores on the other
    "fid": ("FID-MNIST (lower is better)", "y"),
    "classifier_score": ("classifier score (max 10)", "y2"),
    "classes_covered": ("classes covered (of 10)", "y2"),
    "precision": ("precision × 10", "y2"),
    "recall": ("recall × 10", "y2"),
}


def _quality_value(metrics: dict, name: str) -> float:
    value = metrics[name]
    return value * 10 if name in ("precision", "recall") else value


def quality_figure(evaluations: dict[int, dict]) -> go.Figure:
    """Metric curves against epoch, each with the real-data value as a dotted line of its colour."""
    epochs = sorted(evaluations)
    fig = go.Figure()
    palette = dict(zip(QUALITY, ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]))
    for name, (label, axis) in QUALITY.items():
        values = [_quality_value(evaluations[e], name) for e in epochs]
        fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=label, yaxis=axis,
                                 line=dict(color=palette[name]), legendgroup=name))
        real = _quality_value(evaluations[epochs[-1]]["real"], name)
        fig.add_trace(go.Scatter(x=[epochs[0], epochs[-1]], y=[real, real], mode="lines", yaxis=axis, showlegend=False,
                                 line=dict(color=palette[name], dash="dot", width=1), legendgroup=name,
                                 hovertemplate=f"real digits: {real:.3g}<extra>{label}</extra>"))
    fig.update_layout(yaxis=dict(title="FID-MNIST", rangemode="tozero"),
                      # the scores' own round ticks (Plotly's default for an overlaid axis follows FID's grid:
                      # 2.16, 4.31, ...), with no grid of their own across FID's
                      yaxis2=dict(title="scores", overlaying="y", side="right", range=[0, 10.5], tickmode="linear",
                                  tick0=0, dtick=2, showgrid=False))
    # a title that fits half a column (the Train page draws this chart beside the class histogram), and the five
    # legend entries at the foot of the figure, below the axis title: placed under the plot (the default), in half
    # a column they took five rows, which shrank the plot until the first row covered "epoch"
    _layout(fig, title="Sample quality (dotted: real digits)", y_title="FID-MNIST", revision="quality", height=440)
    fig.update_layout(legend=dict(yref="container", y=0, yanchor="bottom"), margin=dict(b=140))
    return fig


@st.cache_resource(show_spinner=False, max_entries=16)
def _quality_figures(run_path: str, epochs: tuple[int, ...], _evaluations: dict) -> tuple[go.Figure, go.Figure]:
    return quality_figure(_evaluations), histogram_figure(_evaluations[epochs[-1]], epochs[-1])


def quality_figures(run: Run, evaluations: dict[int, dict]) -> tuple[go.Figure, go.Figure]:
    """The metric curves and the newest class histogram, built once per new evaluation (the live view
    draws them at every refresh)."""
    return _quality_figures(str(run.path), tuple(sorted(evaluations)), evaluations)


def classes_text(covered: int) -> str:
    return f"{covered} class{'es' * (covered != 1)}"


def snapshot_caption(epoch: int, metrics: dict | None) -> str:
    """A snapshot grid's caption: its epoch, and its FID and digit classes where it was evaluated."""
    if metrics is None:
        return f"epoch {epoch}"
    return f"epoch {epoch} · FID {metrics['fid']:.0f} · {classes_text(metrics['classes_covered'])}"


def histogram_figure(metrics: dict, epoch: int) -> go.Figure:
    """How often the classifier sees each digit among the samples; real data is about 10% each."""
    counts = np.asarray(metrics["class_histogram"], dtype=float)
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=100 * counts / counts.sum(), marker_color="#1f77b4"))
    fig.add_hline(y=10, line_dash="dot", annotation_text="uniform: 10%", annotation_position="top left")
    covered = metrics["classes_covered"]
    _layout(fig, title=f"Digits the classifier sees, epoch {epoch}<br><sup>{classes_text(covered)}, "
                       f"entropy {metrics['label_entropy']:.2f} of 2.30</sup>", y_title="% of samples",
            revision="histogram", height=440, x_title="digit")  # as tall as the quality chart beside it
    # every digit named on its axis (the labels are digits: Plotly would make it a numeric axis ticked 0 and 5)
    fig.update_layout(xaxis_type="category", margin=dict(t=60))
    return fig


# -- inside the discriminator ------------------------------------------------------------------
D_BINS = 40


def _d_bins(outputs: dict[int, dict]) -> np.ndarray:
    """Bin edges shared by every epoch: [0, 1] for probabilities, the scores' whole range otherwise."""
    if next(iter(outputs.values()))["output"] == "probability":
        return np.linspace(0, 1, D_BINS + 1)
    values = np.concatenate([np.r_[o["real"], o["fake"]] for o in outputs.values()])
    low, high = float(values.min()), float(values.max())
    return np.linspace(low, high if high > low else low + 1, D_BINS + 1)


def _d_bars(snapshot: dict, edges: np.ndarray) -> list[go.Bar]:
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    bars = []
    for side, label, color in (("real", "real test images", COLORS["d_real"]), ("fake", "fakes (fixed noise)", COLORS["d_fake"])):
        counts, _ = np.histogram(np.clip(snapshot[side], edges[0], edges[-1]), bins=edges)
        bars.append(go.Bar(x=centres, y=100 * counts / max(counts.sum(), 1), width=width, name=label, marker_color=color,
                           opacity=0.6, hovertemplate="%{x:.3g}: %{y:.1f}%<extra>" + label + "</extra>"))
    return bars


def discriminator_figure(outputs: dict[int, dict]) -> go.Figure:
    """Histograms of D's outputs on real and fake images, one frame per snapshot epoch, with a slider
    (and Play) to scrub through training; a dashed line at 0.5 where D's output is a probability.
    Epochs whose output kind differs from the latest one's (a fork that changed the loss) are left out."""
    kind = outputs[max(outputs)]["output"]
    outputs = {e: o for e, o in sorted(outputs.items()) if o["output"] == kind}
    edges = _d_bins(outputs)
    frames = [go.Frame(data=_d_bars(o, edges), name=str(e)) for e, o in outputs.items()]
    fig = go.Figure(data=frames[-1].data, frames=frames)
    animate = dict(mode="immediate", frame=dict(duration=400, redraw=True), transition=dict(duration=0))
    fig.update_layout(
        barmode="overlay", height=380, margin=dict(l=10, r=10, t=40, b=10), uirevision="discriminator",
        title="D's outputs on real and fake images",
        xaxis=dict(title="D's probability that the image is real" if kind == "probability" else "critic's score",
                   range=[edges[0], edges[-1]]),
        yaxis=dict(title="% of images", range=[0, max(max(b.y) for f in frames for b in f.data) * 1.05]),
        # the legend above the plot, the Play button left of the slider below it (a legend below collided with both)
        legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"),
        sliders=[dict(active=len(frames) - 1, currentvalue=dict(prefix="epoch "), pad=dict(t=40), x=0.12, len=0.88,
                      steps=[
            dict(label=f.name, method="animate", args=[[f.name], {**animate, "frame": dict(duration=0, redraw=True)}])
            for f in frames])],
        updatemenus=[dict(type="buttons", showactive=False, x=0.1, y=0, xanchor="right", yanchor="top",
                          pad=dict(t=75), buttons=[
            dict(label="▶ Play", method="animate", args=[None, {**animate, "fromcurrent": True}])])],
    )
    if kind == "probability":
        fig.add_vline(x=0.5, line_dash="dash", line_color="black", annotation_text="0.5: D cannot tell")
    return fig


@st.cache_resource(show_spinner=False, max_entries=16)
def _discriminator_figure(run_path: str, epochs: tuple[int, ...]) -> go.Figure:
    return discriminator_figure(Run(Path(run_path)).discriminator_outputs())


def discriminator_chart(run: Run, *, key: str) -> None:
    """The discriminator figure of ``run``, built once per new snapshot for every tab (the live view
    draws it at every refresh)."""
    epochs = tuple(run.discriminator_epochs())
    if not epochs:
        return
    fig = _discriminator_figure(str(run.path), epochs)
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    st.caption(discriminator_caption(fig))


def discriminator_caption(fig: go.Figure) -> str:
    return ("The same 1,000 test digits and 1,000 fakes from fixed noise at every snapshot, judged by D in eval "
            "mode. Drag the slider or press Play: as G improves, the two distributions close in on each other"
            + (" around 0.5." if fig.layout.shapes else "."))


def show_alarms(events: list[dict]) -> None:
    for event in events:
        if event["kind"] == "alarm":
            alarm = event["detail"]
            box = st.error if alarm["name"] == "divergence" else st.warning
            box(alarm_text(event), icon="🚨")


def alarm_text(event: dict) -> str:
    """An alarm as the pages show it: its name, step, meaning and advice (Markdown)."""
    alarm = event["detail"]
    title = alarm["name"].replace("-", " ").capitalize()
    # runs recorded before the meanings stopped repeating the name: "Mode collapse: the generator's samples ..."
    message = alarm["message"].removeprefix(f"{title}: ")
    return f"**{title}** (step {event['step']:,}): {message[:1].upper()}{message[1:]}  \n**Try:** {alarm['advice']}"
