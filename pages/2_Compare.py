"""Compare: one run's snapshots side by side, a scrubber with play, GIF/PNG export, two runs at one epoch."""

import functools

import numpy as np
import streamlit as st

import ui
from gan import report
from gan.config import REPORT_SNAPSHOT_EPOCHS
from gan.data import load_mnist, to_training_tensor
from gan.images import gif_bytes, png_bytes, to_uint8
from gan.metrics import nearest_training_distance


@st.cache_resource(show_spinner=False)
def train_uint8() -> np.ndarray:
    return load_mnist("train")[0].numpy()


def nearest_pairs(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    distances, indices = nearest_training_distance(torch.from_numpy(samples).reshape(-1, 1, 28, 28),
                                                   to_training_tensor(torch.from_numpy(train_uint8())))
    return distances[:, 0], indices[:, 0]


@st.cache_resource(show_spinner=False)
def test_digit_distance() -> float:
    """The mean distance of 500 held-out test digits to their nearest training image: the scale of
    the memorisation check (the README's 8.4, measured here rather than quoted)."""
    test = to_training_tensor(load_mnist("test")[0][:500])
    return float(nearest_pairs(test[:, 0].numpy())[0].mean())

st.set_page_config(page_title="Compare · GAN on MNIST", page_icon="🔍", layout="wide")
st.title("🔍 Compare epochs")
store = ui.get_store()
infos = [i for i in store.list() if i["status"] != "damaged" and store.open(i["id"]).snapshot_epochs()]
if not infos:
    st.info("No snapshots yet: train a run first (its grids appear at epochs 0, 5, 10, 20, …).")
    st.stop()

run_id = ui.select_run("Run", infos, key="compare-run", default=st.session_state.get("watch"))
run = store.open(run_id)
available = run.snapshot_epochs()
grids = {e: ui.snapshot_grid(run, e) for e in available}
evaluations = run.evaluations()


def quality_caption(epoch: int) -> str:
    return ui.snapshot_caption(epoch, evaluations.get(epoch))

st.subheader("Snapshots side by side")
# the report's epochs and the last snapshot (a run shorter than the report's schedule ends between its epochs)
default = sorted({e for e in available if e in REPORT_SNAPSHOT_EPOCHS} | {available[-1]})
chosen = st.multiselect("Epochs", available, default=default, key=f"compare-epochs-{run_id}",
                        help="Each grid comes from the same fixed noise, so a cell follows one latent point through training.")
per_row = st.slider("Grids per row", 2, 8, 4, key="compare-per-row")
for row in range(0, len(chosen), per_row):
    for column, epoch in zip(st.columns(per_row), chosen[row : row + per_row]):
        column.image(grids[epoch], caption=quality_caption(epoch), width="stretch")
        column.download_button("PNG", png_bytes(grids[epoch]), f"{run_id}-epoch-{epoch}.png", "image/png",
                               key=f"png-{epoch}", width="stretch")

st.subheader("Scrub through training")


def scrubber(playing: bool) -> None:
    if playing:  # each refresh shows the next snapshot
        i = available.index(st.session_state.get("compare-scrub", available[0]))
        st.session_state["compare-scrub"] = available[(i + 1) % len(available)]
    c1, c2 = st.columns([4, 1])
    epoch = c1.select_slider("Epoch", available, key="compare-scrub")
    if c2.button("⏸ Pause" if playing else "▶ Play", key="compare-play", width="stretch"):
        st.session_state["compare-playing"] = not playing
        st.rerun()  # restart the fragment with or without its timer
    left, right = st.columns(2)
    left.image(ui.scaled(grids[epoch], 2), caption=quality_caption(epoch))
    if epoch in evaluations:
        right.plotly_chart(ui.histogram_figure(evaluations[epoch], epoch), key="compare-histogram")


playing = st.session_state.get("compare-playing", False)
st.fragment(run_every=0.8 if playing else None)(scrubber)(playing)
st.download_button("⬇ Evolution as animated GIF", gif_bytes([grids[e] for e in available]),
                   f"{run_id}-evolution.gif", "image/gif", key="gif")

st.subheader("The report's figures")
st.caption("As the 2019 report drew them, for this run: its Fig. 4 (losses of D on real, D on fake and G, each "
           "epoch's mean), its Fig. 5 (the grids at epochs 0, 5, 10, 20, 40, …, 500 that this run has, in one "
           "picture), and the interactive curves as one HTML file that opens offline. Also: "
           f"`python -m gan report --run {run_id} --out DIR`.")
for column, (name, mime) in zip(st.columns(3), (("losses.png", "image/png"), ("snapshots.png", "image/png"),
                                                ("curves.html", "text/html"))):
    # drawn only when clicked (a callable), not on every rerun of the page
    column.download_button(f"⬇ {name}", functools.partial(report.REPORT_FILES[name], run), f"{run_id}-{name}",
                           mime, key=f"report-{name}", width="stretch")

if run.discriminator_epochs():
    st.subheader("Inside the discriminator")
    ui.discriminator_chart(run, key="compare-discriminator")

if run.config().ema_halflife:
    st.subheader("Raw and averaged generator")
    st.caption("The run keeps an exponential moving average of G's weights (half-life "
               f"{run.config().ema_halflife:,} images); snapshots and samples come from the average. Here both "
               "draw the snapshot noise from the same kept checkpoint: what averaging does at that epoch.")
    kept = [e for e in run.checkpoint_epochs() if e in available] or run.checkpoint_epochs()
    if kept:
        epoch = st.select_slider("Epoch (kept checkpoints)", kept, value=kept[-1], key="compare-ema-epoch")
        raw, averaged = ui.raw_and_averaged_grids(run, epoch)
        left_col, right_col = st.columns(2)
        left_col.image(raw, caption=f"raw G · epoch {epoch}", width="stretch")
        right_col.image(averaged, caption=f"averaged G (EMA) · epoch {epoch}", width="stretch")

st.subheader("Two runs at the same epoch")
left_col, right_col = st.columns(2)
with left_col:
    a = ui.select_run("Run A", infos, key="compare-a", default=run_id)
with right_col:
    parent = next((i.get("parent") for i in infos if i["id"] == a), None)  # a fork is compared with its parent
    other = parent["run"] if parent else (infos[1]["id"] if len(infos) > 1 else run_id)
    b = ui.select_run("Run B", infos, key="compare-b", default=other)
run_a, run_b = store.open(a), store.open(b)
common = sorted(set(run_a.snapshot_epochs()) & set(run_b.snapshot_epochs()))
if not common:
    st.warning("These runs have no snapshot epoch in common.")
else:
    epoch = st.select_slider("Epoch (snapshots both runs have)", common, value=common[-1], key="compare-common")
    left_col, right_col = st.columns(2)
    left_col.image(ui.snapshot_grid(run_a, epoch), caption=f"{a} · epoch {epoch}", width="stretch")
    right_col.image(ui.snapshot_grid(run_b, epoch), caption=f"{b} · epoch {epoch}", width="stretch")

st.subheader("Memorisation check")
st.caption("Each snapshot sample beside its nearest training image (pixel distance): a GAN that copies its "
           f"training set shows near-zero distances. Real test digits sit at {test_digit_distance():.1f} on average "
           "from their nearest training image.")
epoch = st.select_slider("Snapshot epoch", available, value=available[-1], key="compare-memo-epoch")
samples = run.snapshot_images(epoch)
distances, nearest = nearest_pairs(samples)
order = np.argsort(distances)[:8]
pairs = np.concatenate([np.concatenate([to_uint8(samples[i : i + 1])[0], train_uint8()[nearest[i]]], axis=0) for i in order], axis=1)
st.image(ui.scaled(pairs, 3), caption="Top: the 8 samples closest to a training image; bottom: that training image. "
         "Distances: " + ", ".join(f"{distances[i]:.1f}" for i in order))
