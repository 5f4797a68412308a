"""The Sweeps page under AppTest, against a store holding a sweep (its runs trained for real, their
evaluations written as the trainer writes them), without starting Ray."""

import json
from contextlib import closing
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import sweep_ui
from gan.runner import execute
from gan.store import RunStore
from gan.sweep.record import create_sweep, stop_requested

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_cache(runs_dir):
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def sweeps_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.switch_page("pages/5_Sweeps.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _trial(store, sweep_id, config, lr_g, fids, **fork):
    tag = {"id": sweep_id, "trial": f"t-{lr_g}", "values": {"lr_g": lr_g}, "node": "n1"}
    if fork:
        run = store.fork(fork["parent"], epoch=1, info={"sweep": tag}, lr_g=lr_g)
        run.add_event(fork["step"], "explore", {"lr_g": lr_g})
    else:
        run = store.create(config.replace(lr_g=lr_g), fill=lambda r: r.write_info(sweep=tag))
    execute(run, resume=bool(fork))
    with closing(run.connect()) as con, con:
        for epoch, fid in fids.items():
            con.execute("INSERT OR REPLACE INTO evaluations VALUES (?, ?)",
                        (epoch, json.dumps({"fid": fid, "classifier_score": 5.0})))
    return run


@pytest.fixture
def pbt_sweep(tiny_config):
    """Two trials and one exploit: the second trial forked from the first at epoch 1."""
    store = RunStore()
    sweep_id = create_sweep(store, space=[{"field": "lr_g", "kind": "choice", "values": [0.001, 0.004]}],
                            scheduler="pbt", metric="fid")
    config = tiny_config.replace(snapshot_epochs=(1, 2))
    good = _trial(store, sweep_id, config, 0.001, {1: 80.0, 2: 60.0})
    bad = _trial(store, sweep_id, config, 0.004, {1: 120.0, 2: 110.0})
    child = _trial(store, sweep_id, config, 0.002, {2: 70.0}, parent=good.id, step=config.steps_per_epoch)
    return sweep_id, good, bad, child


def test_the_page_says_how_to_start_a_sweep_when_there_is_none():
    at = sweeps_page()
    assert "Sweeps" in at.title[0].value
    assert any("No sweeps yet" in box.value for box in at.info)


def test_without_ray_the_page_says_how_to_install_it(monkeypatch):
    find_spec = sweep_ui.importlib.util.find_spec
    monkeypatch.setattr(sweep_ui.importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    at = sweeps_page()
    assert any("pip install 'ray[tune]==2.60.0'" in w.value for w in at.warning)
    assert not at.button  # nothing to launch


def test_trials_are_ranked_by_the_metric_with_the_pbt_family_tree(pbt_sweep):
    sweep_id, good, bad, child = pbt_sweep
    at = sweeps_page()
    table = at.dataframe[0].value
    assert list(table["run"]) == [good.id, child.id, bad.id]  # FID 60, 70, 110
    assert list(table["fid"]) == [60.0, 70.0, 110.0]
    family = at.dataframe[1].value
    assert (family["parent"][0], family["child"][0], family["at epoch"][0]) == (good.id, child.id, 1)
    assert "lr_g → 0.002" in family["explored"][0]
    assert len(at.get("plotly_chart")) == 3 and len(at.image) == 3


def test_stop_asks_the_sweep_process_to_stop(pbt_sweep):
    sweep_id = pbt_sweep[0]
    at = sweeps_page()
    at.button(key="sweep-stop").click().run()
    assert stop_requested(RunStore(), sweep_id)


def test_a_bad_space_is_named_on_the_page_and_launches_nothing(monkeypatch):
    launched = []
    monkeypatch.setattr(sweep_ui.subprocess, "Popen", lambda *a, **k: launched.append(a))
    at = sweeps_page()
    at.text_input(key="sweep-space-lr_g-args-loguniform").set_value("0.0001:3").run()
    at.button(key="sweep-launch").click().run()
    assert any("lr_g must be in (0.0, 1.0], got 3.0" in e.value for e in at.error)
    assert launched == []


def test_launch_starts_python_m_gan_sweep_as_its_own_process(monkeypatch, runs_dir):
    launched = []
    monkeypatch.setattr(sweep_ui.subprocess, "Popen", lambda args, **kw: launched.append((args, kw)))
    at = sweeps_page()
    at.radio(key="sweep-scheduler").set_value("pbt").run()
    at.button(key="sweep-launch").click().run()
    [(args, kw)] = launched
    assert args[1:5] == ["-m", "gan", "--runs-dir", str(runs_dir.resolve())]
    assert args[5] == "sweep" and "--scheduler" in args and args[args.index("--scheduler") + 1] == "pbt"
    assert "lr_g=loguniform:0.0001:0.01" in args and "--train-images" in args
    assert kw["start_new_session"] is True  # a Streamlit restart does not end it


def test_a_pbt_explore_step_is_marked_on_the_fork_s_curves(pbt_sweep):
    import ui

    child = pbt_sweep[3]
    config = child.config()
    fig = ui.loss_figure(child.steps(), loss=config.loss, steps_per_epoch=config.steps_per_epoch,
                         events=child.events(), revision="test")
    [line] = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert line.x0 == 1.0  # the fork point, in epochs
    assert [a.text for a in fig.layout.annotations] == ["lr_g → 0.002"]
