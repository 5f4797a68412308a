"""What redrawing the live view's two curve charts costs the browser, away from the dashboard, by variant.

    PYTHONPATH=. python benchmarks/chart_redraw.py [--rounds 5] [--redraws 30] [--variants shipped whole-redraw ...]

Trains ``report-2019`` for 3 epochs into a temporary store, builds the Train page's live payloads from growing
prefixes of that history (``ui.loss_figure`` / ``ui.score_figure`` at ``ui.LIVE_POINTS`` points with the live view's
held axes, as JSON in the live view's style: what ``/api/live`` sends at each refresh), and serves a bare page that
draws them, two charts side by side, into the same two ``<div>``s, one payload after another with a frame drawn and
150 ms between refreshes. ``shipped`` draws them as the live panel does (its ``drawCurve``, from ``ui._DRAW_JS``:
while the axes hold, the traces' SVG paths set directly); ``plotly-move`` as it did in sessions 36 and 37 (the
traces moved by ``Plotly.animate``); ``whole-redraw`` as it did before session 36: the axes fitted to the
data by Plotly (the ranges taken out) and each chart redrawn whole with ``Plotly.react``; the other variants change
``whole-redraw``'s figures. The variants take turns in a random order for ``--rounds`` rounds of ``--redraws``
refreshes each, and the figure is the CPU of every Chromium process per refresh (from /proc), so the VM's drift falls
on every variant alike.

The page loads plotly.py's bundled ``plotly.min.js``: Streamlit's Plotly chunk, which the dashboard uses, loads only
inside Streamlit's frontend. The dashboard's own per-refresh figure, with the page around the charts, is
``benchmarks/live_view_browser.py``'s.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from bench_dashboard import browser_cpu_seconds
from serve import CHROMIUM, CHROMIUM_FLAGS

# the figures as the server held their axes, and as Plotly fits the axes to the data (the ranges taken out)
HELD = "(f) => f"
FITTED = """(f) => {
      const probability = f.layout.yaxis.title.text === "probability";  // its y axis is 0 to 1 either way
      const yaxis = {...f.layout.yaxis, range: probability ? [0, 1] : undefined};
      return {...f, layout: {...f.layout, xaxis: {...f.layout.xaxis, range: undefined}, yaxis}};
    }"""
# name: (figure -> figure, in the page, and the drawing function of ``ui._DRAW_JS`` that draws it)
VARIANTS = {
    "shipped": (HELD, "drawCurve"),
    "plotly-move": (HELD, "((P, chart, figure, config) => drawCurve(P, chart, figure, config, {direct: false}))"),
    "whole-redraw": (FITTED, "redraw"),
    "no-bands": (f"(f) => {{ f = ({FITTED})(f); return {{...f, data: f.data.filter((t) => !t.fill)}}; }}", "redraw"),
    "hover-closest": (f"(f) => {{ f = ({FITTED})(f); return {{...f, layout: {{...f.layout, hovermode: 'closest'}}}}; "
                      "}", "redraw"),
    "fixed-x": (f"(f) => {{ f = ({FITTED})(f); return {{...f, layout: {{...f.layout, xaxis: {{...f.layout.xaxis, "
                "range: [0, 3], autorange: false}}}; }", "redraw"),
    "no-automargin": (f"""(f) => {{
      f = ({FITTED})(f);
      const template = JSON.parse(JSON.stringify(f.layout.template));
      template.layout.xaxis.automargin = template.layout.yaxis.automargin = false;
      return {{...f, layout: {{...f.layout, template, margin: {{l: 60, r: 10, t: 40, b: 90}}}}}};
    }}""", "redraw"),
}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="plotly.min.js"></script><script>
{DRAW_JS}
</script><style>
body { font-family: sans-serif; margin: 1rem; width: 1100px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; }
</style></head><body><div class="charts"><div id="losses"></div><div id="scores"></div></div><script>
const variants = {VARIANTS};
window.run = async (name, n) => {
  const figures = window.figures || (window.figures = await (await fetch("figures.json")).json());
  for (const key of ["losses", "scores"]) {  // what drawCurve knows of a chart another variant drew: forgotten
    const chart = document.getElementById(key);
    delete chart.ganSent;
    delete chart.ganKey;
    delete chart.ganStale;
  }
  let moved = 0;
  for (let i = 0; i < n; i++) {
    for (const key of ["losses", "scores"]) {
      const chart = document.getElementById(key);
      const [change, draw] = variants[name];
      const figure = change(JSON.parse(JSON.stringify(figures[i % figures.length][key])));
      figure.layout.width = chart.clientWidth || undefined;
      await draw(Plotly, chart, figure, {displaylogo: false});
      moved += chart.ganStale ? 1 : 0;  // its paths set directly (drawCurve's moveTraces), Plotly's copy not yet
    }
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 150)));
  }
  return moved;
};
</script></body></html>"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_):
        pass


def payloads(count: int) -> list[dict]:
    """``count`` live payloads of the two curve charts, from a 3-epoch report-2019 run, each with more steps."""
    import ui
    from gan.config import preset
    from gan.runner import execute
    from gan.store import RunStore

    with tempfile.TemporaryDirectory() as tmp:
        config = preset("report-2019").replace(epochs=3, eval_samples=0)
        run = RunStore(Path(tmp)).create(config)
        execute(run)
        columns = ui.history(run)
        out = []
        for k in range(count):
            rows = int(len(columns["step"]) * (0.5 + 0.5 * (k + 1) / count))
            part = {name: values[:rows] for name, values in columns.items()}
            chart = dict(steps_per_epoch=config.steps_per_epoch, events=[], revision=run.id, max_points=ui.LIVE_POINTS,
                         hold_to=config.epochs)
            out.append({"losses": json.loads(ui.live_json(ui.loss_figure(part, loss=config.loss, **chart))),
                        "scores": json.loads(ui.live_json(ui.score_figure(part, loss=config.loss, **chart)))})
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redraws", type=int, default=30, help="refreshes per variant per round")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    import plotly
    from playwright.sync_api import sync_playwright

    import ui

    with tempfile.TemporaryDirectory() as site:
        site = Path(site)
        shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", site)
        (site / "figures.json").write_text(json.dumps(payloads(40)))
        variants = ",\n".join(f"  {json.dumps(name)}: [{VARIANTS[name][0]}, {VARIANTS[name][1]}]"
                               for name in args.variants)
        page = PAGE.replace("{VARIANTS}", "{\n" + variants + "\n}").replace("{DRAW_JS}", ui._DRAW_JS)
        (site / "index.html").write_text(page)
        handler = functools.partial(QuietHandler, directory=str(site))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        per_refresh = {name: [] for name in args.variants}
        moved = {name: 0 for name in args.variants}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.evaluate(f"run({json.dumps(args.variants[0])}, 10)")  # the first drawings (Plotly's setup): no refresh
            for _ in range(args.rounds):
                for name in random.sample(args.variants, len(args.variants)):
                    before = browser_cpu_seconds()
                    moved[name] += page.evaluate(f"run({json.dumps(name)}, {args.redraws})")
                    per_refresh[name].append(1000 * (browser_cpu_seconds() - before) / args.redraws)
            browser.close()
        server.shutdown()
    print(f"# the live view's two curve charts redrawn in a bare page, {args.rounds} rounds of {args.redraws} refreshes "
          f"per variant, variants in random order; Chromium CPU ms per refresh")
    base_name = "whole-redraw" if "whole-redraw" in per_refresh else args.variants[0]
    base = statistics.median(per_refresh[base_name])
    for name, values in per_refresh.items():
        median = statistics.median(values)
        print(f"{name:14} median {median:6.1f} ms ({median / base:.2f}x {base_name}), rounds: "
              + ", ".join(f"{v:.1f}" for v in values)
              + (f"; paths set directly in {moved[name]} of {2 * args.redraws * args.rounds} drawings"
                 if moved[name] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
