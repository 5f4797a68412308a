"""Train: set hyperparameters, start a background job, watch it learn live."""

import streamlit as st

import ui
from gan.config import ConfigError, preset
from gan.losses import LOSSES
from gan.timing import duration_text

st.set_page_config(page_title="Train · GAN on MNIST", page_icon="🏋️", layout="wide")
st.title("🏋️ Train")
st.html(ui.PIXELATED)
runner, store = ui.get_runner(), ui.get_store()

form, live = st.columns([1, 2], gap="large")

with form:
    st.subheader("New run")
    name = st.selectbox("Preset", ui.preset_names(), key="preset",
                        help="A starting point; every value below can be changed. report-2019 is the 2019 report's GAN.")
    top = st.container()  # the start button sits above the long form, filled once the form is read
    config = ui.validated(ui.config_form(preset(name), key=f"form-{name}"))
    with top:
        if config is not None:
            st.caption(f"About **{duration_text(ui.time_estimate(config))}** on {ui.device_name()} "
                       f"({config.epochs} epochs × {config.steps_per_epoch} steps of {config.batch_size} images).")
        if st.button("▶ Start training", type="primary", disabled=config is None, key="start", width="stretch"):
            st.session_state["watch"] = runner.start(config)
    ui.prefetch_plotly(key="plotly-prefetch")  # the live charts' Plotly, loaded while nothing trains


def _resume(run_id: str) -> None:
    config = store.open(run_id).config()
    changes = {k: st.session_state[f"{k}-{run_id}"] for k in ("lr_g", "lr_d")}
    try:
        runner.resume(run_id, **{k: v for k, v in changes.items() if v != getattr(config, k)})
    except ConfigError as exc:
        st.session_state["control-error"] = str(exc)


def controls(run_id: str, progress) -> None:
    """Pause, Resume (with new learning rates) and Stop for this process's own jobs.

    They are drawn by the page, not by the live view's fragment, and the actions run as ``on_click``
    callbacks (before the rerun that carries the click)."""
    if progress.status == "paused":
        config = store.open(run_id).config()
        c1, c2 = st.columns(2)
        # no bounds on the boxes: an out-of-range rate reaches validation, which names the field and range
        c1.number_input("lr_g", value=config.lr_g, step=1e-4, format="%.5f", key=f"lr_g-{run_id}",
                        help="New generator learning rate from the next step (marked on the curves).")
        c2.number_input("lr_d", value=config.lr_d, step=1e-4, format="%.5f", key=f"lr_d-{run_id}",
                        help="New discriminator learning rate from the next step (marked on the curves).")
    if "control-error" in st.session_state:
        st.error(st.session_state.pop("control-error"))
    # each button as wide as its label (fixed columns cut them in a narrow window)
    buttons = st.container(horizontal=True)
    if progress.status == "paused":
        buttons.button("▶ Resume", key="resume", type="primary", on_click=_resume, args=(run_id,))
    else:  # queued: nothing to pause yet; starting: it pauses before its first step
        buttons.button("⏸ Pause", key="pause", disabled=ui.page_status(progress.status) != "running",
                       on_click=runner.pause, args=(run_id,))
    buttons.button("⏹ Stop", key="stop", help="Finish the current step, save a checkpoint, end the run.",
                   on_click=runner.stop, args=(run_id,))


def live_body(run_id: str, was_active: bool) -> None:
    state = ui.live_state(store.open(run_id), runner)
    info, config, progress, status = state.info, state.config, state.progress, state.status
    if was_active and not state.active:
        st.rerun()  # the job ended: redraw the page once, without the refresh timer
    if state.own and (run_id, ui.page_status(progress.status)) != st.session_state.get("controls-for"):
        st.rerun()  # the buttons above this view show another status: redraw them once
    # while a job trains (and the data route is served) the live panel draws the quality charts, else the page does
    panel = config is not None and state.active and ui.live_route_served()
    if st.session_state.get("quality-in-panel") is None:  # the page's own run: it draws the rest after this view
        st.session_state["quality-in-panel"] = panel
    elif panel != st.session_state["quality-in-panel"]:
        st.rerun()  # the charts move between the panel and the page
    elif (run_id, ui.quality_version(state.run, state.events, charts=not panel)) != st.session_state.get("quality-drawn"):
        st.rerun()  # a new evaluation, snapshot or alarm the page draws: it redraws the quality section once
    if status == "failed":
        st.error(f"Training failed: {(progress.message if progress is not None else '') or info.get('message')}")
    if state.active and not state.own:
        st.caption(f"Trained by another process (pid {info.get('pid')}), watched live from the run store; "
                   "pause or stop it there.")
    interval = ui.refresh_interval(status, st.session_state.get("refresh", ui.REFRESH_S))
    if panel:
        # drawn in place from /api/live by the panel, which asks for a rerun only when the page around it changes
        ui.live_panel(state, interval_s=interval, key="live-panel")
        return
    st.progress(state.fraction, text=state.text)
    if config is None:
        return
    figures = ui.live_figures(state.run, config, state.columns, state.events,
                              max_points=ui.LIVE_POINTS if state.active else ui.MAX_POINTS)
    c1, c2 = st.columns(2)
    with c1:
        ui.curve_chart(figures["losses"], key="train-losses", live=state.active)
    with c2:
        ui.curve_chart(figures["scores"], key="train-scores", live=state.active)
    if "wasserstein" in figures:
        ui.curve_chart(figures["wasserstein"], key="train-wasserstein", live=state.active)
    st.caption(f"**{config.loss}** · {LOSSES[config.loss].healthy}")
    grid = ui.live_grid(state.run, progress)
    if grid is not None:
        png, width, epoch = grid
        st.image(png, width=2 * width, caption=ui.grid_caption(epoch))
    ui.refresh_after(interval, key="live-refresh")


def quality(run, events: list[dict], *, charts: bool) -> None:
    """Alarms and snapshot metrics. They change at snapshots only, so the page draws them, not the live view's
    fragment: a refresh does not send their charts again (nor the browser redraw them); the fragment asks for
    one page rerun when they change. While the live panel shows a training job it draws the charts itself
    (``charts`` False): a new evaluation costs no page rerun in the job's first seconds."""
    ui.show_alarms(events)
    if not charts:
        return
    evaluations = run.evaluations()
    if evaluations:
        c1, c2 = st.columns(2)
        metrics, classes = ui.quality_figures(run, evaluations)
        c1.plotly_chart(metrics, key="train-quality", config={"displaylogo": False})
        c2.plotly_chart(classes, key="train-histogram", config={"displaylogo": False})
    ui.discriminator_chart(run, key="train-discriminator")


def _watch(run_id: str) -> None:
    st.session_state["watch"] = run_id


with live:
    infos = [i for i in store.list() if i["status"] != "damaged"]
    live_ids = ui.live_run_ids(infos)
    # a run that went live since this tab's last page run (started in another tab or process): followed,
    # unless the user picked the run this tab watches; then it is offered
    follow, offered = ui.followed_run(live_ids, seen=st.session_state.get("live-seen"),
                                      watching=st.session_state.get("watch"),
                                      pinned=st.session_state.get("watch-pinned", False))
    st.session_state["live-seen"] = live_ids
    if follow is not None:
        st.session_state["watch"] = follow
    if not infos:
        st.info("No runs yet: pick a preset and press **Start training**. MNIST is built in, nothing to download.")
        ui.follow_runs(live_ids, interval_s=ui.REFRESH_S, key="follow")  # a run started in another tab shows here
    else:
        own_active = [p.run_id for p in runner.jobs() if p.active]
        default = st.session_state.get("watch") or (own_active[0] if own_active else None) or (
            live_ids[0] if live_ids else infos[0]["id"])
        for run_id in offered:
            note, button = st.columns([3, 1], vertical_alignment="center")
            note.info(f"Run **{run_id}** started in another tab or process.", icon="🆕")
            button.button("Watch it", key=f"watch-{run_id}", on_click=_watch, args=(run_id,))
        pick, every = st.columns([3, 1])
        with pick:
            run_id = ui.select_run("Watching", infos, key="watch", default=default,
                                   help="Runs of this dashboard and of `python -m gan train` in other processes. "
                                        "Until you pick one, this tab switches to a run that starts while it shows none live.",
                                   describe=lambda info: info["id"],  # the live status is shown below
                                   on_change=lambda: st.session_state.update({"watch-pinned": True}))
        every.selectbox("Refresh every", ui.REFRESH_CHOICES, index=ui.REFRESH_CHOICES.index(ui.REFRESH_S), key="refresh",
                        format_func=lambda s: f"{s:g} s",
                        help=f"How often the live view redraws while a job trains; at least {ui.IDLE_REFRESH_S:g} s "
                             "while it is paused or queued, and never while this tab is hidden.")
        was_active = runner.is_active(run_id) or ui.is_live(store.open(run_id).info())
        # Pause/Resume/Stop sit outside the refreshing view: a button that a refresh redraws can lose a click
        # that lands during the redraw (seen in the browser test); these are redrawn only when the status changes
        own = runner.has_job(run_id)
        progress = runner.progress(run_id) if own else None
        if progress is not None and progress.active:
            controls(run_id, progress)
        st.session_state["controls-for"] = (run_id, ui.page_status(progress.status) if progress is not None else None)
        watched = store.open(run_id)
        events = watched.events()
        st.session_state["quality-in-panel"] = None  # the live view says whether it draws the quality charts
        st.fragment(live_body)(run_id, was_active)
        in_panel = st.session_state["quality-in-panel"]
        st.session_state["quality-drawn"] = (run_id, ui.quality_version(watched, events, charts=not in_panel))
        quality(watched, events, charts=not in_panel)
        if not was_active:  # no live view polling: notice a run that starts elsewhere
            ui.follow_runs(live_ids, interval_s=ui.REFRESH_S, key="follow")
