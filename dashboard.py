"""Home: what this is, a one-click start, the runs so far. `streamlit run dashboard.py`.

`streamlit run` finds the ``app`` below and serves the dashboard through it (an ``st.App``): the pages as
always, plus the live view's data route, ``/api/live/<run>`` (``ui.live_response``), which lets the Train page
draw a training run's progress without a Streamlit rerun, and ``/api/runs/live`` (``ui.live_runs_response``),
which lets a Train tab that watches no live run notice one that starts. Each view of Home runs this file as
``__main__``.
"""

import streamlit as st

if __name__ != "__main__":  # imported by `streamlit run` (or any ASGI server) to serve the app
    import sys

    from starlette.responses import Response
    from starlette.routing import Route

    def _answer(request, respond):
        # the hosts that may open the app's WebSocket may read this too (no DNS rebinding: server.allowedHosts)
        host = request.headers.get("host", "").rsplit(":", 1)[0]
        ui = sys.modules.get("ui")  # the pages' module: imported by the first page view, which the panel needs
        if host not in {*(st.get_option("server.allowedHosts") or ()), "localhost", "127.0.0.1", "[::1]"}:
            status, body = 403, b'{"error": "host not allowed"}'
        elif ui is None:
            status, body = 503, b'{"error": "no page has been served yet"}'
        else:
            status, body = respond(ui)
        return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"})

    def _live(request):
        return _answer(request, lambda ui: ui.live_response(request.path_params["run_id"], dict(request.query_params)))

    def _live_runs(request):
        return _answer(request, lambda ui: ui.live_runs_response())

    # sync handlers: Starlette's thread pool
    LIVE_RUNS_ROUTE = Route("/api/runs/live", _live_runs, methods=["GET"])
    LIVE_ROUTE = Route("/api/live/{run_id}", _live, methods=["GET"])
    app = st.App(__file__, routes=[LIVE_RUNS_ROUTE, LIVE_ROUTE])
else:
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
    c1.page_link("pages/1_Train.py", label="Start training", icon="🏋️")
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
