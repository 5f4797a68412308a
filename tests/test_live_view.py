"""The Train page's live view costs little: tabs share its work, it redraws only what changed, and it
refreshes as the job needs (the browser test checks that a hidden tab does not refresh)."""

import base64
import io
import json
import os
import sys
import types

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest
import streamlit as st
from PIL import Image

import ui
from gan.runner import Progress, execute
from gan.store import RunStore


def _clear():
    st.cache_resource.clear()
    for shared in (ui._shared_history, ui._live_figures_of, ui._grid_pngs):
        shared.clear()


@pytest.fixture(autouse=True)
def fresh_caches(runs_dir):
    _clear()
    yield
    _clear()


@pytest.fixture
def run(tiny_config):
    run = RunStore().create(tiny_config.replace(epochs=2, snapshot_epochs=(0, 1, 2)))
    execute(run)
    return run


def columns_until(run, step: int) -> dict:
    history = run.steps()
    keep = history["step"] <= step
    return {k: v[keep] for k, v in history.items()}


def test_tabs_refreshing_together_share_one_set_of_live_figures(run):
    config, events = run.config(), run.events()
    first = ui.live_figures(run, config, columns_until(run, 10), events)
    second = ui.live_figures(run, config, columns_until(run, 12), events)  # new steps, but within REBUILD_S
    assert second is first


def test_live_figures_are_rebuilt_when_new_steps_arrive_and_kept_when_none_do(run, monkeypatch):
    monkeypatch.setattr(ui, "REBUILD_S", 0.0)
    config, events = run.config(), run.events()
    first = ui.live_figures(run, config, columns_until(run, 10), events)
    assert ui.live_figures(run, config, columns_until(run, 10), events) is first  # nothing new: nothing built
    rebuilt = ui.live_figures(run, config, columns_until(run, 12), events)
    assert rebuilt is not first
    assert rebuilt["losses"].data[-1].x[-1] == pytest.approx(12 / config.steps_per_epoch)


def test_a_learning_rate_change_shows_on_the_live_figures_at_once(run):
    config = run.config()
    ui.live_figures(run, config, columns_until(run, 10), [])
    resumed = [{"step": 8, "time": 0.0, "kind": "resume", "detail": {"lr_d": 0.0005}}]
    figures = ui.live_figures(run, config, columns_until(run, 10), resumed)  # within REBUILD_S, but new events
    (mark,) = figures["losses"].layout.shapes
    assert mark.x0 == pytest.approx(8 / config.steps_per_epoch) and mark.line.dash == "dot"
    assert figures["losses"].layout.annotations[0].text == "lr_d → 0.0005"


def test_the_probability_chart_draws_the_equilibrium_line_and_sends_float32(run):
    fig = ui.score_figure(run.steps(), loss="bce", steps_per_epoch=run.config().steps_per_epoch, events=[],
                          revision=run.id, max_points=ui.LIVE_POINTS)
    (half,) = fig.layout.shapes
    assert (half.y0, half.y1, half.line.dash) == (0.5, 0.5, "dash")
    (label,) = fig.layout.annotations  # readable where D(G(z))'s band runs under it
    assert label.text.startswith("0.5") and label.bgcolor == "rgba(255,255,255,0.85)"
    assert tuple(fig.layout.yaxis.range) == (0, 1)
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["mean D(x)", "mean D(G(z))"]
    spec = plotly.io.to_json(fig, validate=False)
    assert '"dtype":"f4"' in spec and '"dtype":"f8"' not in spec  # typed arrays, half the bytes of float64


@pytest.mark.parametrize("loss", sorted(ui.LOSSES))
def test_every_kind_of_curve_figure_is_valid_although_built_unchecked(loss):
    """The curve builders skip Plotly's property checks (``ui._figure``, for speed): every kind they make, with an
    event mark, passes them here, where a misspelt property raises."""
    n = 40
    columns = {"step": np.arange(1, n + 1, dtype=np.float64)}
    for name in ("d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake", "wasserstein", "gradient_penalty"):
        columns[name] = np.linspace(0.1, 1.0, n)
    events = [{"step": 20, "time": 0.0, "kind": "resume", "detail": {"lr_d": 0.0005}}]
    figures = []
    for hold_to in (None, 10):  # the axes fit to the data, or held (the live view's)
        chart = dict(steps_per_epoch=10, events=events, revision="r", max_points=16, hold_to=hold_to)
        figures += [ui.loss_figure(columns, loss=loss, **chart), ui.score_figure(columns, loss=loss, **chart),
                    ui.wasserstein_figure(columns, **chart)]
    for fig in figures:
        checked = go.Figure(fig.to_plotly_json())  # validates every property; raises ValueError on a bad one
        assert len(checked.data) == len(fig.data) == 2 * len([t for t in fig.data if t.showlegend is not False])
        assert checked.layout.shapes[0].line.dash == "dot"


def test_the_live_axes_hold_their_ranges_while_the_new_points_fall_inside_them():
    """The live view's axes (``ui.held_ranges``): x from 0 to an end from 1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k, at most the
    run's epochs (a short run's whole length from the start); y out to multiples of a step of about a fifth of the
    span, with 2% to spare. A refresh whose new points fall inside keeps both ranges,
    so the browser moves the traces alone."""
    assert ui.held_ranges(0.37, [], epochs=50) == {"x": [0.0, 0.4]}  # no y without finite values
    assert ui.held_ranges(3.1, [np.array([np.nan, np.inf], np.float32)], epochs=50) == {"x": [0.0, 4.0]}
    assert ui.held_ranges(41.0, [], epochs=500)["x"] == [0.0, 50.0]
    assert ui.held_ranges(41.0, [], epochs=45)["x"] == [0.0, 45.0]  # the run's end comes first
    assert ui.held_ranges(46.0, [], epochs=45)["x"] == [0.0, 50.0]  # a run taken past its epochs: the data's end
    # a short run (at most ui.SHORT_RUN_EPOCHS) holds x at its whole length from its first point: no x change in it
    assert [ui.held_ranges(x, [], epochs=5)["x"] for x in (0.02, 0.37, 1.2, 3.1, 5.0)] == [[0.0, 5.0]] * 5
    assert ui.held_ranges(0.37, [], epochs=ui.SHORT_RUN_EPOCHS)["x"] == [0.0, float(ui.SHORT_RUN_EPOCHS)]
    assert ui.held_ranges(0.37, [], epochs=ui.SHORT_RUN_EPOCHS + 1)["x"] == [0.0, 0.4]
    assert ui.held_ranges(6.0, [], epochs=5)["x"] == [0.0, 6.0]  # taken past its epochs: the data's end
    losses = [np.array([0.31, 0.9, 1.7], np.float32), np.array([0.5, np.nan, 1.2], np.float32)]
    ranges = ui.held_ranges(12.3, losses, epochs=100)
    low, high = ranges["y"]
    assert ranges["x"] == [0.0, 15.0] and (low, high) == pytest.approx((0.0, 2.0))
    # the next refreshes: more epochs, a little more spread, the same ranges; past them, new ones that hold the data
    assert ui.held_ranges(14.9, [*losses, np.array([0.35, 1.9], np.float32)], epochs=100) == ranges
    wider = ui.held_ranges(15.2, [*losses, np.array([-0.4, 2.6], np.float32)], epochs=100)
    assert wider["x"] == [0.0, 20.0] and wider["y"][0] < -0.4 and wider["y"][1] > 2.6
    # values of 0 and up (a loss) get no axis below 0, negative ones (a critic's) their room below
    assert ui.held_ranges(1.0, [np.array([0.0, 7.1], np.float32)], epochs=5)["y"] == [0.0, 8.0]
    assert ui.held_ranges(1.0, [np.array([-0.1, 7.1], np.float32)], epochs=5)["y"] == [-2.0, 8.0]
    # a flat curve still gets an axis of some height, around its value
    flat = ui.held_ranges(1.0, [np.full(5, 0.69, np.float32)], epochs=5)["y"]
    assert flat[0] < 0.69 < flat[1]


def test_the_live_figures_hold_their_axes_and_figures_drawn_once_fit_theirs(run):
    """The live view's curve charts are sent with their axes' ranges (held: ``held_ranges``), the probability chart's
    y from 0 to 1; a chart drawn once (Compare) leaves them to Plotly's autorange."""
    config = run.config()
    figures = ui.live_figures(run, config, ui.history(run), [], max_points=ui.LIVE_POINTS)
    losses, scores = figures["losses"].layout, figures["scores"].layout
    assert losses.xaxis.range[0] == 0 and losses.xaxis.range[1] >= config.epochs - 1e-6
    assert losses.yaxis.range is not None and tuple(scores.yaxis.range) == (0, 1)
    drawn_once = ui.loss_figure(run.steps(), loss=config.loss, steps_per_epoch=config.steps_per_epoch, events=[],
                                revision=run.id)
    assert drawn_once.layout.xaxis.range is None and drawn_once.layout.yaxis.range is None


def test_a_min_max_band_is_one_closed_trace_around_its_curve():
    """Along the maxima and back along the minima, in one trace (one drawing per refresh, not two edges and a
    fill between them); points where either edge is missing are left out of the polygon."""
    x = np.arange(5, dtype=np.float32)
    columns = {"g_loss": np.array([1, 2, 3, 4, 5], np.float32), "g_loss_min": np.array([0, 1, np.nan, 3, 4], np.float32),
               "g_loss_max": np.array([2, 3, 4, 5, 6], np.float32)}
    band, curve = ui._curve_traces(x, columns, "g_loss")
    assert band["fill"] == "toself" and band["showlegend"] is False and band["legendgroup"] == curve["legendgroup"]
    assert list(band["x"]) == [0, 1, 3, 4, 4, 3, 1, 0]
    assert list(band["y"]) == [2, 3, 5, 6, 4, 3, 1, 0]
    assert list(curve["y"]) == [1, 2, 3, 4, 5] and curve["name"] == ui.LABELS["g_loss"]
    assert len(ui._curve_traces(x, columns, "g_loss", band=False)) == 1


def test_the_live_grid_of_a_preview_is_encoded_once_for_every_tab(run):
    grid = (np.arange(60 * 90) % 256).astype(np.uint8).reshape(60, 90)
    progress = Progress(run_id=run.id, grid=grid, grid_epoch=1.5)
    png, width, epoch = ui.live_grid(run, progress)
    again, _, _ = ui.live_grid(run, progress)
    assert again is png and (width, epoch) == (90, 1.5)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), grid)


def test_a_run_of_another_process_shows_its_newest_snapshot_file(run):
    png, width, epoch = ui.live_grid(run, None)
    assert epoch == 2 and png == run.snapshot_png(2).read_bytes()
    assert width == Image.open(run.snapshot_png(2)).width


@pytest.mark.parametrize(("status", "chosen", "expected"), [
    ("running", 2.0, 2.0), ("starting", 1.0, 1.0), ("running", 10.0, 10.0),
    ("paused", 2.0, ui.IDLE_REFRESH_S), ("queued", 1.0, ui.IDLE_REFRESH_S), ("paused", 30.0, 30.0),
    ("finished", 2.0, None), ("stopped", 2.0, None), ("failed", 2.0, None),
])
def test_the_refresh_follows_the_job(status, chosen, expected):
    assert ui.refresh_interval(status, chosen) == expected


def test_the_live_charts_use_streamlits_own_plotly_which_sets_window_plotly():
    """The live chart component imports this chunk when the page has no Plotly yet, then draws with
    ``window.Plotly``: both must hold for the Streamlit installed (else it falls back to st.plotly_chart)."""
    from pathlib import Path

    name = ui.plotly_chunk()
    assert name is not None and name.startswith("PlotlyChart.") and name.endswith(".js")
    assert "window.Plotly=" in (Path(st.__file__).parent / "static" / "static" / "js" / name).read_text()


def test_the_live_charts_payload_is_the_figure_in_streamlits_style_with_float32_arrays(run):
    fig = ui.loss_figure(run.steps(), loss="bce", steps_per_epoch=run.config().steps_per_epoch, events=[],
                         revision=run.id, max_points=ui.LIVE_POINTS)
    data = ui.live_chart_data(fig)
    figure = plotly.io.from_json(data["figure"], skip_invalid=False)  # a valid figure
    assert figure.layout.title.text == "Losses" and figure.layout.template.layout.font.family.startswith('"Source Sans"')
    assert [t.name for t in figure.data] == [t.name for t in fig.data]
    assert '"dtype":"f4"' in data["figure"] and data["config"] == {"displaylogo": False}


def test_tabs_showing_the_same_live_figure_share_its_payload_and_a_new_figure_gets_its_own(run):
    chart = dict(loss="bce", steps_per_epoch=run.config().steps_per_epoch, events=[], revision=run.id)
    fig = ui.loss_figure(run.steps(), **chart)
    assert ui.live_chart_data(fig) is ui.live_chart_data(fig)
    shorter = ui.loss_figure(columns_until(run, 10), **chart)
    assert ui.live_chart_data(shorter)["figure"] != ui.live_chart_data(fig)["figure"]


class _Runner:
    """What the live view asks a runner: this process trains no job (the run is watched from the store)."""

    def __init__(self, store):
        self.store = store

    def has_job(self, run_id):
        return False


def test_the_live_payload_sends_figures_and_grid_once_then_only_the_progress(run):
    state = ui.live_state(run, _Runner(RunStore()))
    first = json.loads(ui.live_payload(state))
    assert set(first["figures"]) == {"losses", "scores"} and first["figures_id"]
    assert first["figures"]["losses"]["layout"]["title"]["text"] == "Losses"
    assert base64.b64decode(first["grid"]["src"].split(",", 1)[1]) == run.snapshot_png(2).read_bytes()
    assert first["grid"]["caption"] == "Fixed noise, epoch 2" and "step" in first["text"]
    again = json.loads(ui.live_payload(state, have_figures=first["figures_id"], have_grid=first["grid"]["key"]))
    assert "figures" not in again and "grid" not in again  # the browser has both: only the progress line comes
    assert again["version"] == first["version"] and again["text"] == first["text"]
    stale = json.loads(ui.live_payload(state, have_figures="0", have_grid="1"))
    assert "figures" in stale and "grid" in stale


def test_the_live_version_changes_with_what_the_page_draws_around_the_panel(run):
    runner = _Runner(RunStore())
    version = ui.live_version(ui.live_state(run, runner))
    assert ui.live_version(ui.live_state(run, runner)) == version
    run.add_event(5, "resume", {"lr_d": 5e-4})  # a mark on the curves: the page redraws
    marked = ui.live_version(ui.live_state(run, runner))
    assert marked != version
    (run.path / "snapshots" / "epoch-0002-discriminator.json").unlink()  # a snapshot: the panel draws it, no rerun
    assert ui.live_version(ui.live_state(run, runner)) == marked
    run.add_event(6, "alarm", {"name": "collapse", "message": "m", "advice": "a"})  # the page draws the alarms
    assert ui.live_version(ui.live_state(run, runner)) != marked


def test_a_job_going_from_starting_to_running_costs_no_page_rerun(run):
    import dataclasses

    state = ui.live_state(run, _Runner(RunStore()))
    progress = Progress(run_id=run.id, status="starting")
    starting = dataclasses.replace(state, status="starting", progress=progress)
    running = dataclasses.replace(state, status="running", progress=dataclasses.replace(progress, status="running"))
    paused = dataclasses.replace(state, status="paused", progress=dataclasses.replace(progress, status="paused"))
    assert ui.live_version(starting) == ui.live_version(running) != ui.live_version(paused)


def test_the_live_payload_sends_the_quality_charts_once_per_new_evaluation_or_snapshot(tiny_config):
    run = RunStore().create(tiny_config.replace(epochs=2, snapshot_epochs=(0, 1, 2), eval_samples=200))
    execute(run)
    state = ui.live_state(run, _Runner(RunStore()))
    first = json.loads(ui.live_payload(state))["quality"]
    assert set(first["figures"]) == {"quality", "histogram", "discriminator"} and "0.5" in first["caption"]
    assert [frame["name"] for frame in first["figures"]["discriminator"]["frames"]] == ["0", "1", "2"]  # the slider's
    assert first["figures"]["quality"]["layout"]["template"] == json.loads(json.dumps(ui.LIVE_TEMPLATE))
    assert len(first["figures"]["quality"]["data"][0]["x"]) == 3  # the evaluated epochs
    assert "quality" not in json.loads(ui.live_payload(state, have_quality=first["id"]))  # the browser has these
    (run.path / "snapshots" / "epoch-0002-discriminator.json").unlink()
    again = json.loads(ui.live_payload(state, have_quality=first["id"]))["quality"]
    assert again["id"] != first["id"] and len(again["figures"]["discriminator"]["frames"]) == 2


def test_the_quality_charts_come_no_sooner_than_the_grid_above_them(tiny_config):
    # at a snapshot the evaluation is stored before the grid (the evaluator is called first): a payload read
    # between the two must not send the quality section, or it is drawn where the grid will push it from
    run = RunStore().create(tiny_config.replace(epochs=1, snapshot_epochs=(0, 1), eval_samples=200))
    execute(run)
    for png in (run.path / "snapshots").glob("epoch-*.png"):
        png.unlink()
    assert run.evaluation_epochs() == [0, 1] and not run.snapshot_epochs()
    payload = json.loads(ui.live_payload(ui.live_state(run, _Runner(RunStore()))))
    assert "grid" not in payload and "quality" not in payload


def test_the_quality_charts_are_built_once_for_every_tab(run, monkeypatch):
    built = []
    figure = ui.discriminator_figure
    monkeypatch.setattr(ui, "discriminator_figure", lambda outputs: built.append(1) or figure(outputs))
    state = ui.live_state(run, _Runner(RunStore()))
    assert ui.live_payload(state) == ui.live_payload(state) and len(built) == 1


def test_the_live_route_answers_only_for_runs_of_the_store(run, monkeypatch):
    monkeypatch.setattr(ui, "_RUNNER", None)
    assert ui.live_response(run.id, {})[0] == 503  # no page has made the runner yet
    monkeypatch.setattr(ui, "_RUNNER", _Runner(RunStore()))
    status, body = ui.live_response(run.id, {"figures": "", "grid": ""})
    assert status == 200 and json.loads(body)["status"] == "finished"
    assert ui.live_response("no-such-run", {})[0] == 404
    assert ui.live_response("../" + run.id, {})[0] == 404  # an id that would leave the store


def test_the_live_route_is_used_only_where_dashboard_py_serves_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "dashboard", raising=False)
    assert not ui.live_route_served()  # AppTest, or a script run bare: the live view refreshes by reruns
    monkeypatch.setitem(sys.modules, "dashboard", types.SimpleNamespace(LIVE_ROUTE=object()))
    assert ui.live_route_served()
    monkeypatch.setenv("GAN_LIVE_ROUTE", "0")  # the reruns, for a comparison
    assert not ui.live_route_served()


def test_the_live_runs_route_lists_the_live_runs_newest_first(run, tiny_config, monkeypatch):
    monkeypatch.setattr(ui, "_RUNNER", None)
    assert ui.live_runs_response()[0] == 503  # no page has made the runner yet
    monkeypatch.setattr(ui, "_RUNNER", _Runner(RunStore()))
    assert ui.live_runs_response() == (200, b'{"live": []}')  # the finished run is not live
    older, newer = RunStore().create(tiny_config), RunStore().create(tiny_config)
    for live in (older, newer):
        live.write_info(status="running", pid=os.getpid())
    status, body = ui.live_runs_response()
    assert status == 200 and json.loads(body)["live"] == [newer.id, older.id]


@pytest.mark.parametrize("seen, watching, pinned, expected", [
    (None, None, False, (None, [])),  # the tab's first page run: it picks its run as before
    ([], None, False, ("b", [])),  # the newest run that went live since is followed
    (["a"], "x", False, ("b", [])),
    (["a", "b"], "x", False, (None, [])),  # nothing new
    ([], "b", False, (None, ["a"])),  # the run this tab has just started is not news to it, and it stays on it
    (["a"], "a", False, (None, ["b"])),  # a tab watching a live run stays on it: the new one is offered
    ([], "x", True, (None, ["b", "a"])),  # the user picked a run: new ones are offered, not followed
])
def test_a_tab_follows_a_run_that_goes_live_unless_the_user_picked_one(seen, watching, pinned, expected):
    assert ui.followed_run(["b", "a"], seen=seen, watching=watching, pinned=pinned) == expected


def test_the_live_panel_reads_the_version_once_and_its_first_payload_carries_the_same(run, monkeypatch):
    state = ui.live_state(run, _Runner(RunStore()))
    calls, drawn = [], {}
    real = ui.live_version
    monkeypatch.setattr(ui, "live_version", lambda s: calls.append(1) or real(s))
    monkeypatch.setattr(ui, "_live_panel_component", lambda **kwargs: drawn.update(kwargs["data"]))
    ui.live_panel(state, interval_s=2.0, key="live-panel")
    assert len(calls) == 1  # the version reads the run's evaluations and snapshot folder: once per drawing
    assert json.loads(drawn["state"])["version"] == drawn["version"] == real(state)
    assert json.loads(ui.live_payload(state, version="given"))["version"] == "given"
