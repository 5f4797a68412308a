"""The Sweeps page's helpers: the space form, launching ``python -m gan sweep`` as its own process,
and the figures that watch a sweep. Reads sweeps from the store (gan.sweep.record), never from Ray."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from gan.config import TrainConfig, preset
from gan.store import RunStore
from gan.sweep.command import RAY_MISSING
from gan.sweep.record import METRICS, metric_by_epoch, sweeps_root
from gan.sweep.space import FIELDS, KINDS, RESERVED, SpaceError, parse_space

ROOT = Path(__file__).resolve().parent
SEARCHABLE = [n for n in FIELDS if n not in (*RESERVED, "data_dir")]
# a starting point for each kind, per field kind (the user edits it)
EXAMPLES = {"choice": "0.0002,0.0005,0.002", "grid": "0.0002,0.002", "uniform": "0.0001:0.003", "loguniform": "0.0001:0.01"}
METRIC_LABELS = {"fid": "FID-MNIST (lower is better)", "classifier_score": "classifier score (higher is better)"}


def ray_missing() -> str | None:
    """How to install Ray Tune, when it is missing."""
    return None if importlib.util.find_spec("ray") is not None else RAY_MISSING


# -- defining and launching -------------------------------------------------------------------
def space_form(base: TrainConfig, *, key: str) -> list[str]:
    """Pick fields, then a kind and values or bounds for each; returns ``FIELD=KIND:ARGS`` specs."""
    chosen = st.multiselect("Fields to search", SEARCHABLE, default=["lr_g", "lr_d"], key=f"{key}-fields")
    specs = []
    for name in chosen:
        c1, c2 = st.columns([1, 3])
        kind = c1.selectbox(name, KINDS, index=KINDS.index("loguniform") if name.startswith("lr") else 0,
                            key=f"{key}-{name}-kind", help=FIELDS[name].metadata["help"])
        default = EXAMPLES[kind] if name.startswith("lr") else str(getattr(base, name))
        args = c2.text_input(f"{name}: values a,b,c (choice, grid) or low:high (uniform, loguniform)", default,
                             key=f"{key}-{name}-args-{kind}")
        specs.append(f"{name}={kind}:{args}")
    return specs


def sweep_arguments(*, preset_name: str, overrides: dict, specs: list[str], scheduler: str, trials: int,
                    metric: str, max_concurrent: int) -> list[str]:
    """The ``python -m gan sweep`` arguments for the form's choices (each override as its config flag)."""
    args = ["sweep", "--preset", preset_name, "--scheduler", scheduler, "--trials", str(trials), "--metric", metric,
            "--max-concurrent", str(max_concurrent)]
    for name, value in overrides.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    for spec in specs:
        args += ["--space", spec]
    return args


def check(preset_name: str, overrides: dict, specs: list[str], scheduler: str) -> str | None:
    """The space's error, if any (named as the CLI names it), before any process starts."""
    try:
        parse_space(specs, preset(preset_name, **overrides), scheduler=scheduler)
    except SpaceError as exc:
        return str(exc)
    return None


def launch(store: RunStore, args: list[str]) -> Path:
    """Start the sweep as its own process (a new session: Streamlit's reruns and restarts never end it);
    its output goes to a log beside the sweeps. Returns the log's path."""
    sweeps_root(store).mkdir(parents=True, exist_ok=True)
    log = sweeps_root(store) / f"launch-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with open(log, "ab") as out:
        subprocess.Popen([sys.executable, "-m", "gan", "--runs-dir", str(store.root.resolve()), *args], cwd=ROOT,
                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return log


# -- watching ---------------------------------------------------------------------------------
def _value_text(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def ranking_rows(rows: list[dict], metric: str) -> list[dict]:
    """The ranked runs as table rows: rank, run, status, metric, its epoch, sampled values, parent."""
    return [{"rank": i, "run": r["run"], "status": r["status"], metric: r[metric], "best epoch": r["best_epoch"],
             "epochs": r["epochs_done"], **{k: _value_text(v) for k, v in r["values"].items()},
             "forked from": r["parent"] or ""} for i, r in enumerate(rows, 1)]


def best_so_far_figure(rows: list[dict], metric: str) -> go.Figure:
    """Each run's best metric in the order the runs started, and the best so far."""
    started = sorted((r for r in rows if r[metric] is not None), key=lambda r: r["run"][:15])
    values = [r[metric] for r in started]
    best = np.minimum.accumulate(values) if METRICS[metric] == "min" else np.maximum.accumulate(values)
    x = list(range(1, len(values) + 1))
    fig = go.Figure([go.Scatter(x=x, y=values, mode="markers", name="run", text=[r["run"] for r in started]),
                     go.Scatter(x=x, y=best, mode="lines", line_shape="hv", name="best so far")])
    return _layout(fig, "Best so far", "run (in start order)", metric)


def parallel_figure(rows: list[dict], metric: str) -> go.Figure:
    """Parallel coordinates: one line per run through its sampled values to its metric."""
    scored = [r for r in rows if r[metric] is not None]
    names = sorted({k for r in scored for k in r["values"]})
    dimensions = [_axis(name, [r["values"].get(name) for r in scored]) for name in names]
    dimensions.append(dict(label=metric, values=[r[metric] for r in scored]))
    colors = [r[metric] for r in scored]
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=dict(color=colors, colorscale="Viridis",
                                                                  reversescale=METRICS[metric] == "max", showscale=True)))
    fig.update_layout(title="Sampled values against the metric", height=380, margin=dict(l=60, r=40, t=90, b=20))
    return fig


def _axis(name: str, values: list) -> dict:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return dict(label=name, values=values)
    labels = sorted({str(v) for v in values})  # categorical: one tick per value
    return dict(label=name, values=[labels.index(str(v)) for v in values], tickvals=list(range(len(labels))),
                ticktext=labels)


def curves_figure(store: RunStore, rows: list[dict], metric: str) -> go.Figure:
    """Each run's metric against epoch (a fork's line starts at its fork point)."""
    fig = go.Figure()
    for r in rows:
        values = metric_by_epoch(store, r["run"], metric)
        fig.add_trace(go.Scatter(x=list(values), y=list(values.values()), mode="lines+markers", name=r["run"]))
    return _layout(fig, f"{metric} at each epoch", "epoch", metric)


def family_rows(store: RunStore, rows: list[dict]) -> list[dict]:
    """PBT's family tree as parent -> child edges: where each exploit forked and what it explored."""
    edges = []
    for r in rows:
        if r["parent"]:
            explored = [e["detail"] for e in store.open(r["run"]).events() if e["kind"] == "explore"]
            info = store.open(r["run"]).read_info()
            edges.append({"parent": r["parent"], "child": r["run"], "at epoch": info["parent"]["epoch"],
                          "explored": ", ".join(f"{k} → {_value_text(v)}" for d in explored for k, v in d.items())})
    return edges


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title=title, height=340, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=x_title,
                      yaxis_title=y_title, legend=dict(orientation="h", y=-0.3), uirevision=title)
    return fig
