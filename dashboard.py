"""Home: what this is, a one-click start, the runs so far. `streamlit run dashboard.py`."""

import streamlit as st

import ui
from gan.timing import duration_text

st.set_page_config(page_title="GAN on MNIST", page_icon="🎨", layout="wide")
st.title("🎨 Watch a GAN learn to draw digits")
st.markdown(
    "Train a generative adversarial network on MNIST and see it learn: the losses and the generated "
    "digits update live, snapshots let you compare epochs side by side, and sliders let you play with "
    "the noise the generator draws from. It starts from the 2019 course report's vanilla GAN (preset "
    "`report-2019`); MNIST is built in, so there is nothing to download."
)
c1, c2, c3, c4 = st.columns(4)
c1.page_link("pages/1_Train.py", label="Start training (report-2019 ready)", icon="🏋️")
c2.page_link("pages/2_Compare.py", label="Compare epochs", icon="🔍")
c3.page_link("pages/3_Generate.py", label="Play with the noise", icon="🎛️")
c4.page_link("pages/4_Runs.py", label="Manage runs", icon="🗂️")
store = ui.get_store()
st.caption(f"Training device: **{ui.device_name()}** · run store: `{store.root.resolve()}`")

infos = store.list()
st.subheader(f"Runs ({len(infos)})")
if not infos:
    st.info("No runs yet. Open **Train** and press **Start training**: the report's GAN learns recognisable "
            "digits in a few epochs.")
for row in range(0, min(len(infos), 8), 4):
    for column, info in zip(st.columns(4), infos[row : row + 4]):
        with column.container(border=True):
            st.markdown(f"**{info['id']}**  \n{ui.status_text(info)} · epoch {info.get('epochs_done', 0)}/"
                        f"{info.get('epochs', '?')} · {duration_text(info.get('train_seconds'))}")
            if info["status"] == "damaged":
                st.caption(info["message"])
                continue
            grid = ui.live_grid(store.open(info["id"]), None)  # the newest snapshot's PNG file, as stored
            if grid is not None:
                st.image(grid[0], caption=f"epoch {grid[2]}", width="stretch")
if len(infos) > 8:
    st.page_link("pages/4_Runs.py", label=f"All {len(infos)} runs", icon="🗂️")
