"""Runs: the table of runs, their curves overlaid, continue a run, delete a run."""

import time

import streamlit as st

import ui
from gan.store import RunNotFound
from gan.timing import duration_text

st.set_page_config(page_title="Runs · GAN on MNIST", page_icon="🗂️", layout="wide")
st.title("🗂️ Runs")
runner, store = ui.get_runner(), ui.get_store()
infos = store.list()
if not infos:
    st.info("No runs yet: start one on the Train page, or with `python -m gan train`.")
    st.stop()


def row(info: dict) -> dict:
    c = info.get("config", {})
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info["created"])) if info.get("created") else ""
    return {
        "run": info["id"], "status": ui.status_text(info), "family": c.get("family", ""),
        "noise": f"{c.get('noise_dim', '')} {c.get('noise', '')}", "hidden": c.get("hidden"),
        "batch": c.get("batch_size"), "lr G / D": f"{c.get('lr_g', '')} / {c.get('lr_d', '')}" if c else "",
        "epochs": f"{info.get('epochs_done', 0)}/{info.get('epochs', '?')}",
        "duration": duration_text(info.get("train_seconds")), "created": created,
        "parent": f"{info['parent']['run']} @ epoch {info['parent']['epoch']}" if info.get("parent") else "",
        "note": info.get("message", ""),
    }


st.dataframe([row(i) for i in infos], hide_index=True, key="runs-table")

healthy = [i for i in infos if i["status"] != "damaged"]
st.subheader("Overlay curves")
c1, c2 = st.columns([3, 1])
chosen = c1.multiselect("Runs", [i["id"] for i in healthy], default=[i["id"] for i in healthy[:2]], key="runs-overlay")
metric = c2.selectbox("Metric", list(ui.LABELS), format_func=ui.LABELS.get, key="runs-metric")
series = []
for run_id in chosen:
    run = store.open(run_id)
    config = ui.config_of(run.info())
    if config is not None:
        series.append((run_id, ui.history(run), config.steps_per_epoch))
st.plotly_chart(ui.overlay_figure(series, metric), key="runs-overlay-chart", config={"displaylogo": False})

left, right = st.columns(2)
with left:
    st.subheader("Continue a run")
    resumable = [i for i in healthy if i["status"] in ("stopped", "interrupted", "finished") and not runner.is_active(i["id"])]
    if not resumable:
        st.caption("Stopped, interrupted and finished runs can be continued from their last checkpoint.")
    else:
        run_id = ui.select_run("Run to continue", resumable, key="runs-continue")
        done = next(i for i in resumable if i["id"] == run_id).get("epochs_done", 0)
        total = st.number_input("Train until epoch", done + 1, 10_000, max(done + 1, done + 10), key=f"runs-total-{run_id}")
        if st.button("▶ Continue training", key="runs-continue-go", type="primary"):
            try:
                runner.continue_run(run_id, epochs=int(total))
            except (ValueError, RuntimeError) as exc:
                st.error(str(exc))
            else:
                st.session_state["watch"] = run_id
                st.switch_page("pages/1_Train.py")
with right:
    st.subheader("Delete a run")
    deletable = [i for i in infos if not ui.is_live(i) and not runner.is_active(i["id"])]
    if deletable:
        run_id = ui.select_run("Run to delete", deletable, key="runs-delete")
        # the id is in the box above: in the label, a 1,000-px window cut it off
        sure = st.checkbox("Yes, delete this run and all its files", key=f"runs-sure-{run_id}",
                           help=f"{run_id}: its records, snapshots and checkpoints")
        if st.button("🗑 Delete", key="runs-delete-go", disabled=not sure):
            try:
                store.delete(run_id)
            except (RunNotFound, RuntimeError) as exc:
                st.error(str(exc))
            else:
                st.success(f"Deleted {run_id}.")
                st.rerun()

# the whole width: in half a column (beside Delete) a 1,000-px window cut the rates' boxes to "0.0020" (0.00200)
st.subheader("Fork a run")
forkable = [i for i in healthy if store.open(i["id"]).checkpoint_epochs()]
if not forkable:
    st.caption("Runs with kept checkpoints can be forked: a new run starts from one with changed settings.")
else:
    run_id = ui.select_run("Run to fork", forkable, key="runs-fork")
    parent_config = ui.config_of(next(i for i in forkable if i["id"] == run_id))
    epochs_kept = store.open(run_id).checkpoint_epochs()
    c1, c2 = st.columns(2)
    epoch = c1.select_slider("From the checkpoint at epoch", epochs_kept, value=epochs_kept[-1], key=f"fork-epoch-{run_id}")
    total = c2.number_input("Train until epoch", epoch + 1, 10_000, max(epoch + 1, parent_config.epochs), key=f"fork-total-{run_id}")
    c3, c4 = st.columns(2)
    # unbounded boxes: a rate out of range is named by the fork's validation, not clamped silently
    lr_g = c3.number_input("lr (G)", value=parent_config.lr_g, step=1e-4, format="%.5f", key=f"fork-lr-g-{run_id}")
    lr_d = c4.number_input("lr (D)", value=parent_config.lr_d, step=1e-4, format="%.5f", key=f"fork-lr-d-{run_id}")
    if st.button("Fork and train", icon=":material/call_split:", key="runs-fork-go", type="primary"):
        try:
            child = runner.fork(run_id, epoch=epoch, epochs=int(total), lr_g=lr_g, lr_d=lr_d)
        except (ValueError, RuntimeError) as exc:  # ConfigError is a ValueError naming the field
            st.error(str(exc))
        else:
            st.session_state["watch"] = child
            st.switch_page("pages/1_Train.py")
