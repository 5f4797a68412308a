"""Generate: load a generator at any checkpoint and play with its noise."""

import numpy as np
import streamlit as st
import torch

import ui
from gan.images import grid_image, npy_bytes, png_bytes, to_uint8
from gan.sampling import generate, interpolate, load_generator, noise_from_seed, sample_labels

st.set_page_config(page_title="Generate · GAN on MNIST", page_icon="🎛️", layout="wide")
st.title("🎛️ Play with the noise")
store = ui.get_store()
infos = [i for i in store.list() if i["status"] != "damaged" and store.open(i["id"]).checkpoint_epochs()]
if not infos:
    st.info("No checkpoints yet: train a run first.")
    st.stop()


@st.cache_resource(max_entries=8, show_spinner="Loading the generator…")
def cached_generator(run_id: str, epoch: int, _stamp: float):
    return load_generator(store.open(run_id), epoch)


c1, c2 = st.columns(2)
with c1:
    run_id = ui.select_run("Run", infos, key="gen-run", default=st.session_state.get("watch"))
run = store.open(run_id)
epochs = run.checkpoint_epochs()
with c2:
    epoch = st.select_slider("Checkpoint epoch", epochs, value=epochs[-1], key=f"gen-epoch-{run_id}")
path = run.path / "checkpoints" / f"epoch-{epoch:04d}.pt"
G, config = cached_generator(run_id, epoch, path.stat().st_mtime)
shown = min(8, config.noise_dim)
bound = 1.0 if config.noise == "uniform" else 3.0

st.subheader("One digit, your noise")
left, right = st.columns([2, 1])
with left:
    if st.button("🎲 Random", key="gen-random", help="A new seed: new values for every dimension."):
        st.session_state["gen-seed"] = int(np.random.default_rng().integers(0, 2**31 - 1))
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="gen-seed",
                               help=f"z has {config.noise_dim} dimensions: the seed draws them all, "
                                    f"the sliders then override the first {shown}."))
    digit = None
    if config.conditional:
        digit = st.segmented_control("Digit", list(range(10)), default=7, key="gen-digit",
                                     help="This generator is conditional: it draws the digit you ask for.") or 0
    cluster = None
    if config.clusters:
        picked = st.selectbox("Cluster", ["drawn from the noise", *range(config.clusters)], key=f"gen-cluster-{run_id}",
                              help=f"This generator is self-conditioned on {config.clusters} clusters of the training "
                                   "images, found without labels. Left to the noise, z[0] picks the cluster (with its "
                                   "frequency in the training set) and the style; or pick one.")
        cluster = None if isinstance(picked, str) else int(picked)
    z = noise_from_seed(config, seed)[0]
    columns = st.columns(4)
    for i in range(shown):
        with columns[i % 4]:
            # keyed by the seed, so a new seed starts the sliders at its own values
            z[i] = st.slider(f"z[{i}]", -bound, bound, round(float(z[i].clamp(-bound, bound)), 2), 0.01,
                             key=f"gen-z{i}-{seed}")
image = to_uint8(generate(G, z.unsqueeze(0), sample_labels(config, 1, digit, cluster=cluster)))[0]
right.image(ui.scaled(image, 8), caption=f"{run_id} · epoch {epoch}" + (f" · digit {digit}" if digit is not None else "")
            + (f" · cluster {cluster}" if cluster is not None else ""))
if config.clusters:
    every = grid_image(generate(G, z.repeat(config.clusters, 1), torch.arange(config.clusters)), nrow=10)
    st.image(ui.scaled(every, 2), caption=f"All {config.clusters} clusters, same noise: what the generator "
                                          "learned to tell apart without labels")
if config.conditional:
    row = grid_image(generate(G, z.repeat(10, 1), sample_labels(config, 10)), nrow=10)
    st.image(ui.scaled(row, 2), caption="All digits, same noise: what the noise controls is the style")

st.subheader("Interpolate between two noise vectors")
c1, c2, c3 = st.columns(3)
seed_a = c1.number_input("Seed A", 0, 2**31 - 1, 1, key="gen-seed-a")
seed_b = c2.number_input("Seed B", 0, 2**31 - 1, 2, key="gen-seed-b")
steps = c3.slider("Steps", 3, 16, 10, key="gen-steps")
z_a, z_b = noise_from_seed(config, int(seed_a))[0], noise_from_seed(config, int(seed_b))[0]
for mode in ("linear", "spherical"):
    labels = sample_labels(config, steps, digit, cluster=cluster)
    strip = grid_image(generate(G, interpolate(z_a, z_b, steps, mode=mode), labels), nrow=steps)
    st.image(ui.scaled(strip, 2), caption=f"{mode} interpolation, seed {seed_a} → seed {seed_b}")

st.subheader("A grid of samples")
c1, c2 = st.columns([3, 1])
n = c1.slider("Samples", 4, 256, 64, key="gen-n")
grid_seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key="gen-grid-seed")
samples = generate(G, noise_from_seed(config, int(grid_seed), n), sample_labels(config, n))
grid = grid_image(samples, nrow=int(np.ceil(np.sqrt(n))))
st.image(grid, caption=f"{n} samples, seed {grid_seed}" + (", labels cycling 0–9" if config.conditional else ""))
# each button as wide as its label (fixed columns cut the second to "NPY (ui…" in a 1,000-px window)
downloads = st.container(horizontal=True)
downloads.download_button("⬇ PNG grid", png_bytes(grid), f"{run_id}-epoch-{epoch}-samples.png", "image/png", key="gen-png")
downloads.download_button("⬇ NPY (uint8 N×28×28)", npy_bytes(to_uint8(samples)), f"{run_id}-epoch-{epoch}-samples.npy",
                          "application/octet-stream", key="gen-npy")
