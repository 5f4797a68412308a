"""Sweeps: define a search space, launch it as its own process, watch the trials ranked, stop it."""

import streamlit as st

import sweep_ui
import ui
from gan.config import ConfigError, preset
from gan.sweep.command import SCHEDULERS
from gan.sweep.record import METRICS, list_sweeps, ranked, request_stop, stop_requested

st.set_page_config(page_title="Sweeps · GAN on MNIST", page_icon="🧪", layout="wide")
st.title("🧪 Sweeps")
st.html(ui.PIXELATED)
store = ui.get_store()
missing = sweep_ui.ray_missing()
if missing:
    st.warning(f"Sweeps run on Ray Tune. {missing}, then reload this page.", icon="📦")
    st.stop()
sweeps = list_sweeps(store)

with st.expander("New sweep", expanded=not sweeps):
    c1, c2, c3, c4 = st.columns(4)
    preset_name = c1.selectbox("Preset", ui.preset_names(), key="sweep-preset")
    epochs = c2.number_input("Epochs per trial", 1, 10_000, 2, key="sweep-epochs")
    images = c3.number_input("Training images", 100, 60_000, 2000, step=1000, key="sweep-images")
    trials = c4.number_input("Trials", 1, 256, 4, key="sweep-trials")
    c1, c2, c3 = st.columns(3)
    scheduler = c1.radio("Scheduler", SCHEDULERS, index=1, horizontal=True, key="sweep-scheduler",
                         help="fifo: every trial to the end; asha: stop the worse trials early; pbt: the worse "
                              "half copies the better half's weights (a fork) and perturbs the values")
    metric = c2.selectbox("Metric", list(METRICS), format_func=sweep_ui.METRIC_LABELS.get, key="sweep-metric")
    concurrent = c3.number_input("Trials at once", 1, 64, 2, key="sweep-concurrent", help="one CPU each")
    overrides = {"epochs": int(epochs), "train_images": int(images)}
    try:
        base = preset(preset_name, **overrides)
    except ConfigError as exc:
        st.error(str(exc))
        st.stop()
    specs = sweep_ui.space_form(base, key="sweep-space")
    if st.button("🚀 Launch sweep", type="primary", key="sweep-launch"):
        error = sweep_ui.check(preset_name, overrides, specs, scheduler)
        if error:
            st.error(error)
        else:
            args = sweep_ui.sweep_arguments(preset_name=preset_name, overrides=overrides, specs=specs,
                                            scheduler=scheduler, trials=int(trials), metric=metric,
                                            max_concurrent=int(concurrent))
            log = sweep_ui.launch(store, args)
            st.success(f"Launched `python -m gan {' '.join(args)}`; its output: `{log}`. It appears below in a few seconds.")

if not sweeps:
    st.info("No sweeps yet: define one above, or run `python -m gan sweep` (see `--help`).")
    st.stop()

labels = {s["id"]: f"{s['id']} · {s['scheduler']} · {s['status']}" for s in sweeps}
sweep_id = st.selectbox("Sweep", list(labels), format_func=labels.get, key="sweep-pick")


def watch(sweep_id: str) -> None:
    record = next(s for s in list_sweeps(store) if s["id"] == sweep_id)
    # refreshes only while the sweep runs, and only while this tab is visible
    ui.refresh_after(2 * ui.REFRESH_S if record["status"] == "running" else None, key="sweep-refresh")
    metric = record["metric"]
    c1, c2 = st.columns([4, 1])
    space = ", ".join(f"{d['field']} {d['kind']}" for d in record["space"])
    c1.markdown(f"**{record['status']}** · {record['scheduler']} · metric {metric} · space: {space}")
    if record["status"] == "running":
        stopping = stop_requested(store, sweep_id)
        if c2.button("⏹ Stop sweep", key="sweep-stop", disabled=stopping):
            request_stop(store, sweep_id)
            st.rerun(scope="fragment")
        if stopping:
            c2.caption("stopping: each trial writes a checkpoint first")
    rows = ranked(store, sweep_id, metric)
    if not rows:
        st.info("No trials yet: Ray is starting the first ones.")
        return
    st.dataframe(sweep_ui.ranking_rows(rows, metric), hide_index=True, key=f"sweep-table-{sweep_id}")
    left, right = st.columns(2)
    left.plotly_chart(sweep_ui.best_so_far_figure(rows, metric), key="sweep-best")
    right.plotly_chart(sweep_ui.parallel_figure(rows, metric), key="sweep-parallel")
    left.plotly_chart(sweep_ui.curves_figure(store, rows, metric), key="sweep-curves")
    family = sweep_ui.family_rows(store, rows)
    with right:
        st.markdown("**PBT family tree** (parent → child: an exploit copied the parent's weights)")
        if family:
            st.dataframe(family, hide_index=True, key=f"sweep-family-{sweep_id}")
        else:
            st.caption("No exploits: every trial trained from scratch.")
    st.markdown("**The best trials' latest grids**")
    for column, row in zip(st.columns(3), rows[:3]):
        grid = ui.live_grid(store.open(row["run"]), None)  # the newest snapshot's PNG, as stored
        if grid is not None:
            png, width, epoch = grid
            column.image(png, width=2 * width, caption=f"{row['run']} · epoch {epoch}")


st.fragment(watch)(sweep_id)
