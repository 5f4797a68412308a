"""Every page under streamlit's AppTest: renders, and does its main job against a real run store."""

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gan.runner import execute
from gan.store import RunStore
from helpers import wait_for

TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_runner(runs_dir):
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()  # on_release stops any job the page started


@pytest.fixture
def finished_run(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(epochs=2, snapshot_epochs=(0, 1, 2)))
    execute(run)
    return run


def app(page: str) -> AppTest:
    """The multipage app, opened on ``page`` (as a user clicking it in the sidebar)."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT)
    if page != "dashboard.py":
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


PAGES = {  # page: (its title, what it tells a user whose store is empty)
    "dashboard.py": ("Watch a GAN learn to draw digits", "No runs yet"),
    "pages/1_Train.py": ("Train", "No runs yet"),
    "pages/2_Compare.py": ("Compare epochs", "No snapshots yet"),
    "pages/3_Generate.py": ("Play with the noise", "No checkpoints yet"),
    "pages/4_Runs.py": ("Runs", "No runs yet"),
}


def page_text(at: AppTest) -> str:
    """Everything a page shows as text: markdown, captions, pickers' options and tables."""
    parts = [e.value for e in (*at.title, *at.markdown, *at.caption, *at.info)]
    parts += [str(o) for box in at.selectbox for o in box.options]
    parts += [frame.value.to_string() for frame in at.dataframe]
    return "\n".join(parts)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_renders_with_an_empty_store_and_says_what_to_do(page):
    at = app(page)
    title, empty = PAGES[page]
    assert title in at.title[0].value
    assert any(empty in box.value for box in at.info), page_text(at)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_shows_the_run_when_the_store_has_one(page, finished_run):
    at = app(page)
    text = page_text(at)
    assert finished_run.id in text and PAGES[page][1] not in text


def test_home_shows_the_runs_and_their_latest_grid(finished_run):
    at = app("dashboard.py")
    assert any(finished_run.id in m.value for m in at.markdown)
    assert at.image[0].captions == ["epoch 2"]


def test_start_trains_a_tiny_job_to_the_end():
    at = app("pages/1_Train.py")
    at.slider(key="form-report-2019-epochs").set_value(2)
    at.slider(key="form-report-2019-hidden").set_value(32)
    at.slider(key="form-report-2019-train_images").set_value(1000)
    at.number_input(key="form-report-2019-eval_samples").set_value(200)
    at.run()
    assert not at.error
    at.button(key="start").click().run()
    assert not at.exception
    (info,) = RunStore().list()
    from ui import get_runner

    progress = get_runner().wait(info["id"], timeout=TIMEOUT)
    assert progress.status == "finished"
    at.run()
    assert not at.exception
    config = RunStore().open(info["id"]).config()
    assert (config.epochs, config.hidden, config.train_images) == (2, 32, 1000)
    assert at.image and "epoch 2" in at.image[0].captions[0]


def start_a_long_tiny_job() -> tuple[AppTest, str]:
    """The Train page after Start on a small model (500 epochs of 10 steps: it runs until stopped)."""
    at = app("pages/1_Train.py")
    at.slider(key="form-report-2019-hidden").set_value(16)
    at.slider(key="form-report-2019-train_images").set_value(1000)
    at.number_input(key="form-report-2019-eval_samples").set_value(0)
    at.run()
    at.button(key="start").click().run()
    (info,) = RunStore().list()
    return at, info["id"]


def test_pause_then_resume_with_a_new_learning_rate_and_stop_from_the_buttons():
    from ui import get_runner

    at, run_id = start_a_long_tiny_job()
    runner = get_runner()

    def reach(status):
        wait_for(lambda: runner.progress(run_id).status == status, TIMEOUT, f"status {status}")
        at.run()
        assert not at.exception, [e.value for e in at.exception]

    reach("running")
    # each as wide as its label: fixed columns ([1, 1, 3]) cut them to "P…" and "S…" in a 1,100-px window
    assert not {b.key for column in at.columns if column.weight < 0.3 for b in column.button} & {"pause", "stop"}
    at.button(key="pause").click().run()
    reach("paused")
    assert not [b for b in at.button if b.key == "pause"]
    at.number_input(key=f"lr_d-{run_id}").set_value(0.0005)
    at.button(key="resume").click().run()
    reach("running")
    (resume,) = [e for e in RunStore().open(run_id).events() if e["kind"] == "resume"]
    assert resume["detail"] == {"lr_d": 0.0005}  # only what changed
    at.button(key="stop").click().run()
    reach("stopped")
    assert RunStore().open(run_id).config().lr_d == 0.0005


def test_an_invalid_value_is_shown_naming_the_field_and_start_is_disabled():
    at = app("pages/1_Train.py")
    at.text_input(key="form-report-2019-snapshot_epochs").set_value("0, 5, banana").run()
    assert any("snapshot_epochs" in e.value for e in at.error)
    assert at.button(key="start").disabled


def test_compare_shows_one_image_per_selected_epoch(finished_run):
    at = app("pages/2_Compare.py")
    at.multiselect(key=f"compare-epochs-{finished_run.id}").set_value([0, 2]).run()
    side_by_side = [c for image in at.image for c in image.captions if c in ("epoch 0", "epoch 1", "epoch 2")]
    # two grids side by side, plus the scrubber's current epoch
    assert side_by_side[:2] == ["epoch 0", "epoch 2"]
    at.multiselect(key=f"compare-epochs-{finished_run.id}").set_value([0, 1, 2]).run()
    assert [c for image in at.image for c in image.captions][:3] == ["epoch 0", "epoch 1", "epoch 2"]


def test_compare_shows_the_raw_and_the_averaged_generator_side_by_side(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(epochs=2, snapshot_epochs=(0, 2), ema_halflife=300, ema_rampup=0.0))
    execute(run)
    at = app("pages/2_Compare.py")
    captions = [c for image in at.image for c in image.captions]
    assert "raw G · epoch 2" in captions and "averaged G (EMA) · epoch 2" in captions
    pictures = {c: image for image in at.image for c in image.captions}
    assert pictures["raw G · epoch 2"].value != pictures["averaged G (EMA) · epoch 2"].value
    at.select_slider(key="compare-ema-epoch").set_value(0).run()
    assert "raw G · epoch 0" in [c for image in at.image for c in image.captions]


def test_compare_has_no_raw_and_averaged_section_without_ema(finished_run):
    at = app("pages/2_Compare.py")
    assert not [c for image in at.image for c in image.captions if c.startswith("raw G")]


def test_generate_image_changes_when_a_noise_slider_moves(finished_run):
    at = app("pages/3_Generate.py")
    before = at.image[0].value
    at.slider(key="gen-z0-0").set_value(-0.9).run()
    assert not at.exception
    after = at.image[0].value
    at.slider(key="gen-z0-0").set_value(0.9).run()
    assert before != after != at.image[0].value


def test_generates_downloads_are_each_as_wide_as_their_label(finished_run):
    at = app("pages/3_Generate.py")
    assert [b.key for b in at.get("download_button")] == ["gen-png", "gen-npy"]
    # not in fixed columns, which cut "NPY (uint8 N×28×28)" to "NPY (ui…" in a 1,000-px window
    assert not [b for column in at.columns for b in column.get("download_button")]

def test_runs_lists_what_the_store_holds(finished_run, tiny_config):
    other = RunStore().create(tiny_config)
    at = app("pages/4_Runs.py")
    table = at.dataframe[0].value
    assert set(table["run"]) == {finished_run.id, other.id}
    assert set(table["status"]) == {"✅ finished", "⚪ created"}


def test_runs_page_deletes_a_run_after_confirmation(finished_run):
    at = app("pages/4_Runs.py")
    assert at.button(key="runs-delete-go").disabled
    at.checkbox(key=f"runs-sure-{finished_run.id}").check().run()
    at.button(key="runs-delete-go").click().run()
    assert RunStore().list() == []


def test_generate_offers_a_digit_picker_and_an_all_digits_row_for_conditional_runs(tiny_config, runs_dir):
    execute(RunStore().create(tiny_config.replace(family="dcgan", conditional=True, hidden=8, epochs=1)))
    at = app("pages/3_Generate.py")
    captions = [c for image in at.image for c in image.captions]
    assert any("digit 7" in c for c in captions) and any("All digits, same noise" in c for c in captions)
    before = at.image[0].value
    at.button_group(key="gen-digit").set_value(2).run()
    assert not at.exception
    assert "digit 2" in at.image[0].captions[0] and at.image[0].value != before


def test_generate_offers_a_cluster_picker_and_an_every_cluster_grid_for_self_conditioned_runs(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(family="dcgan", clusters=10, hidden=8, epochs=1))
    execute(run)
    at = app("pages/3_Generate.py")
    captions = [c for image in at.image for c in image.captions]
    assert any("All 10 clusters, same noise" in c for c in captions)
    assert not any("cluster " in c for c in at.image[0].captions)  # left to the noise
    before = at.image[0].value
    at.selectbox(key=f"gen-cluster-{run.id}").set_value(3).run()
    assert not at.exception
    assert "cluster 3" in at.image[0].captions[0]
    at.selectbox(key=f"gen-cluster-{run.id}").set_value(4).run()
    assert "cluster 4" in at.image[0].captions[0] and at.image[0].value != before


@pytest.mark.parametrize("preset_name", ["report-2019", "dcgan", "cgan", "wgan-gp"])
def test_train_form_shows_only_the_controls_that_apply(preset_name):
    at = app("pages/1_Train.py")
    at.selectbox(key="preset").set_value(preset_name).run()
    keys = {w.key for w in at.slider} | {w.key for w in at.number_input}
    has = lambda field: f"form-{preset_name}-{field}" in keys  # noqa: E731
    assert has("dropout") == (preset_name == "report-2019")
    assert has("gp_weight") == (preset_name == "wgan-gp")
    assert has("real_label") == (preset_name != "wgan-gp")


def test_runs_page_forks_a_run_and_shows_its_lineage(finished_run):
    at = app("pages/4_Runs.py")
    at.number_input(key=f"fork-lr-g-{finished_run.id}").set_value(0.0001)
    at.button(key="runs-fork-go").click().run()
    assert not at.exception
    from ui import get_runner

    child = next(i for i in RunStore().list() if i["id"] != finished_run.id)
    assert get_runner().wait(child["id"], timeout=TIMEOUT).status == "finished"
    at = app("pages/4_Runs.py")
    table = at.dataframe[0].value
    assert table.loc[table["run"] == child["id"], "parent"].item() == f"{finished_run.id} @ epoch 2"


def test_the_forks_learning_rates_get_half_the_page_not_a_quarter(finished_run):
    at = app("pages/4_Runs.py")
    halves = [column for column in at.columns if column.weight == 0.5]
    # Continue's column (beside Delete's) held the fork too: each rate a quarter of the page, shown as "0.0020"
    continue_column = next(c for c in halves if any(h.value == "Continue a run" for h in c.subheader))
    rates = {f"fork-lr-g-{finished_run.id}", f"fork-lr-d-{finished_run.id}"}
    assert not {n.key for n in continue_column.number_input} & rates
    assert {n.key for c in halves for n in c.number_input} >= rates

def test_compare_puts_a_fork_beside_its_parent(finished_run):
    child = RunStore().fork(finished_run.id, epoch=1, epochs=3)
    execute(child, resume=True)
    at = app("pages/2_Compare.py")
    at.selectbox(key="compare-a").set_value(child.id).run()
    assert at.selectbox(key="compare-b").value == finished_run.id


def test_a_run_trained_by_the_cli_in_another_process_is_watched_live(runs_dir):
    import os
    import subprocess
    import sys
    import time

    cli = subprocess.Popen([sys.executable, "-m", "gan", "train", "--epochs", "1000", "--train-images", "600",
                            "--batch-size", "50", "--hidden", "16", "--eval-samples", "0", "--quiet"], cwd=ROOT, env=os.environ,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (RunStore().list() and RunStore().list()[0]["status"] == "running" and RunStore().list()[0]["step"] > 0):
            assert time.monotonic() < deadline and cli.poll() is None
            time.sleep(0.1)
        at = app("pages/1_Train.py")
        progress = at.get("progress")[0].proto.text
        assert "running" in progress and "step" in progress and "images/s" in progress
        assert "cpu, hand-written float32 step" in progress  # where it trains and with which accelerations
        assert any("Trained by another process" in c.value for c in at.caption)
        assert not [b for b in at.button if b.key in ("pause", "stop")]  # controls are the owner's
    finally:
        cli.terminate()
        cli.wait(30)


WIDGETS = ("slider", "select_slider", "number_input", "selectbox", "toggle", "text_input")


def form_fields(at: AppTest, preset_name: str) -> set[str]:
    """The config fields the rendered Train form has a widget for (keys ``form-<preset>-<field>``)."""
    prefix = f"form-{preset_name}-"
    return {w.key[len(prefix):] for kind in WIDGETS for w in getattr(at, kind) if (w.key or "").startswith(prefix)}


def _live_run(config) -> str:
    """A run that trains in another process (another tab's job looks the same from the store)."""
    import os

    run = RunStore().create(config)
    run.write_info(status="running", pid=os.getpid())
    return run.id


def test_a_train_tab_follows_a_run_started_elsewhere_until_the_user_picks_one(finished_run, tiny_config):
    at = app("pages/1_Train.py")
    assert at.selectbox(key="watch").value == finished_run.id
    started = _live_run(tiny_config)
    at.run()  # the page rerun the tab's follower asks for when the run appears
    assert at.selectbox(key="watch").value == started
    assert any("Trained by another process" in c.value for c in at.caption)
    at.selectbox(key="watch").set_value(finished_run.id).run()  # the user picks a run: the tab stays on it
    other = _live_run(tiny_config)
    at.run()
    assert at.selectbox(key="watch").value == finished_run.id
    assert any(other in i.value and "started in another tab" in i.value for i in at.info)
    at.button(key=f"watch-{other}").click().run()
    assert at.selectbox(key="watch").value == other
    assert not at.exception


def test_the_train_form_draws_a_widget_for_every_config_field_across_families_and_losses():
    import dataclasses

    from gan.config import TrainConfig, applicable_fields, preset

    at = app("pages/1_Train.py")
    drawn = set()
    for name in ("report-2019", "wgan-gp"):  # the MLP with bce, the DCGAN with the penalty: every field between them
        at.selectbox(key="preset").set_value(name).run()
        config = preset(name)
        assert form_fields(at, name) == applicable_fields(config.family, config.loss)
        drawn |= form_fields(at, name)
    assert drawn == {f.name for f in dataclasses.fields(TrainConfig)}


def test_an_exception_in_training_shows_in_the_page_and_the_app_keeps_working(tmp_path):
    at = app("pages/1_Train.py")
    at.text_input(key="form-report-2019-data_dir").set_value(str(tmp_path / "no-mnist-here")).run()
    at.button(key="start").click().run()
    from ui import get_runner

    (info,) = RunStore().list()
    assert get_runner().wait(info["id"], timeout=TIMEOUT).status == "failed"
    at.run()
    assert not at.exception
    assert any("Training failed" in e.value and "train-images-idx3-ubyte" in e.value for e in at.error)
    assert RunStore().open(info["id"]).info()["status"] == "failed"
    app("pages/4_Runs.py")  # the rest of the app still works


@pytest.mark.parametrize("page", ["dashboard.py", "pages/1_Train.py", "pages/4_Runs.py"])
def test_a_bad_max_jobs_setting_is_a_message_on_the_page_not_a_crash(page, monkeypatch):
    monkeypatch.setenv("GAN_MAX_JOBS", "abc")
    at = app(page)
    assert any("GAN_MAX_JOBS must be a whole number in [1, 64]" in e.value and "'abc'" in e.value for e in at.error)


def test_an_out_of_range_learning_rate_in_the_form_is_named_and_kept_as_typed():
    at = app("pages/1_Train.py")
    at.number_input(key="form-report-2019-lr_g").set_value(5.0).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["lr_g must be in (0.0, 1.0], got 5.0"]
    assert at.number_input(key="form-report-2019-lr_g").value == 5.0  # not clamped to 1.0
    assert at.button(key="start").disabled


def test_an_out_of_range_learning_rate_for_a_fork_is_named_and_nothing_is_forked(finished_run):
    at = app("pages/4_Runs.py")
    at.number_input(key=f"fork-lr-d-{finished_run.id}").set_value(0.0).run()
    at.button(key="runs-fork-go").click().run()
    assert not at.exception
    assert any("lr_d must be in (0.0, 1.0], got 0.0" in e.value for e in at.error)
    assert at.number_input(key=f"fork-lr-d-{finished_run.id}").value == 0.0
    assert [i["id"] for i in RunStore().list()] == [finished_run.id]


def test_an_out_of_range_learning_rate_on_resume_is_named_and_the_job_stays_paused():
    from ui import get_runner

    at, run_id = start_a_long_tiny_job()
    runner = get_runner()
    wait_for(lambda: runner.progress(run_id).status == "running", TIMEOUT, "the job to run")
    at.run()
    at.button(key="pause").click().run()
    wait_for(lambda: runner.progress(run_id).status == "paused", TIMEOUT, "the job to pause")
    at.run()
    at.number_input(key=f"lr_g-{run_id}").set_value(2.0)
    at.button(key="resume").click().run()
    assert not at.exception
    assert any("lr_g must be in (0.0, 1.0], got 2.0" in e.value for e in at.error)
    assert runner.progress(run_id).status == "paused" and at.number_input(key=f"lr_g-{run_id}").value == 2.0
    runner.stop(run_id)


def test_the_memorisation_check_states_the_measured_distance_of_real_test_digits(finished_run):
    at = app("pages/2_Compare.py")
    (caption,) = [c.value for c in at.caption if "Real test digits sit at" in c.value]
    assert "sit at 8.4 on average" in caption  # the README's figure for held-out digits, measured by the page


def test_the_class_histogram_names_every_digit_on_a_digit_axis():
    from ui import histogram_figure

    counts = [0] * 8 + [30, 10]  # two classes seen
    fig = histogram_figure({"class_histogram": counts, "classes_covered": 2, "label_entropy": 0.56}, 7)
    # a category axis titled "digit": as numbers Plotly ticked only 0 and 5, and the layout's default title ("epoch",
    # the curves' axis) had overwritten "digit"
    assert fig.layout.xaxis.type == "category" and fig.layout.xaxis.title.text == "digit"
    assert list(fig.data[0].x) == [str(d) for d in range(10)] and list(fig.data[0].y[-2:]) == [75, 25]
    assert "epoch 7" in fig.layout.title.text and "2 classes, entropy 0.56" in fig.layout.title.text


def test_a_snapshot_caption_counts_one_class_in_the_singular():
    from ui import snapshot_caption

    assert snapshot_caption(0, {"fid": 905.6, "classes_covered": 1}) == "epoch 0 · FID 906 · 1 class"
    assert snapshot_caption(5, {"fid": 131.7, "classes_covered": 10}) == "epoch 5 · FID 132 · 10 classes"
    assert snapshot_caption(3, None) == "epoch 3"


def test_the_quality_charts_scores_axis_ticks_at_round_numbers():
    from ui import quality_figure

    real = {"fid": 3.1, "classifier_score": 9.7, "classes_covered": 10, "precision": 0.85, "recall": 0.87}
    evaluations = {e: dict(real, fid=fid, real=real) for e, fid in ((0, 905.6), (3, 820.0))}
    axis = quality_figure(evaluations).layout.yaxis2
    # Plotly's default for an axis overlaid on FID's ticked it on FID's grid: 2.16, 4.31, 6.47, 8.63
    assert (axis.tickmode, axis.tick0, axis.dtick, tuple(axis.range)) == ("linear", 0, 2, (0, 10.5))


def test_compare_selects_the_last_snapshot_of_a_run_shorter_than_the_reports_schedule(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(epochs=3, snapshot_epochs=(0, 1, 3)))
    execute(run)
    at = app("pages/2_Compare.py")
    # the report's epochs it has (0) and its last one (3): before, epoch 0 alone, the untrained noise
    assert at.multiselect(key=f"compare-epochs-{run.id}").value == [0, 3]


def test_the_train_forms_switches_have_a_row_each_not_half_a_column():
    at = app("pages/1_Train.py")
    switches = [t.key for t in at.toggle if (t.key or "").startswith("form-report-2019-")]
    halves = [column for column in at.columns if column.weight == 0.5]  # the form's two columns (the page's: 1/3, 2/3)
    in_columns = {t.key for column in halves for t in column.toggle}
    # in half of the form's column their labels were cut to "condit…" and "spectr…"
    assert {s.key for column in halves for s in column.slider} >= {"form-report-2019-epochs", "form-report-2019-hidden"}
    assert switches and not in_columns & set(switches)


# -- inside the discriminator ---------------------------------------------------------------------
def test_the_discriminator_figure_has_one_frame_per_snapshot_with_real_and_fake_and_the_half_line():
    from ui import discriminator_figure

    outputs = {0: {"output": "probability", "real": [0.5] * 10, "fake": [0.5] * 10},
               5: {"output": "probability", "real": [0.99] * 8 + [0.01] * 2, "fake": [0.01] * 10}}
    fig = discriminator_figure(outputs)
    assert [f.name for f in fig.frames] == ["0", "5"]
    assert [step.label for step in fig.layout.sliders[0].steps] == ["0", "5"]
    real, fake = fig.frames[1].data
    assert (real.name, fake.name) == ("real test images", "fakes (fixed noise)")
    assert real.y[-1] == 80 and real.y[0] == 20 and fake.y[0] == 100  # % of images per bin
    assert list(fig.data[0].y) == list(real.y)  # the figure opens on the latest epoch
    assert [shape.x0 for shape in fig.layout.shapes] == [0.5]


def test_the_discriminator_figure_of_a_critic_bins_its_score_range_and_has_no_half_line():
    from ui import discriminator_figure

    fig = discriminator_figure({1: {"output": "score", "real": [3.0, 1.0], "fake": [-4.0, -2.0]}})
    assert tuple(fig.layout.xaxis.range) == (-4.0, 3.0) and not fig.layout.shapes
    assert sum(fig.data[0].y) == sum(fig.data[1].y) == 100


@pytest.mark.parametrize("page, key", [("pages/2_Compare.py", "compare-discriminator"),
                                       ("pages/1_Train.py", "train-discriminator")])
def test_compare_and_the_train_view_chart_the_discriminators_outputs_at_every_snapshot(finished_run, page, key):
    at = app(page)
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in str(c.proto.id)]
    figure = json.loads(chart.proto.spec)
    assert [frame["name"] for frame in figure["frames"]] == ["0", "1", "2"]


def test_compare_offers_the_reports_three_figures_for_download(finished_run):
    at = app("pages/2_Compare.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"⬇ losses.png", "⬇ snapshots.png", "⬇ curves.html"} <= set(labels)


def test_the_train_views_discriminator_chart_is_rebuilt_only_when_a_snapshot_is_added(finished_run, monkeypatch):
    from gan.store import Run

    reads = []
    outputs = Run.discriminator_outputs
    monkeypatch.setattr(Run, "discriminator_outputs", lambda run: (reads.append(run.id), outputs(run))[1])
    at = app("pages/1_Train.py")
    at.run()
    assert len(reads) == 1  # the second refresh reused the figure
    snapshots = finished_run.path / "snapshots"
    (snapshots / "epoch-0003-discriminator.json").write_bytes((snapshots / "epoch-0002-discriminator.json").read_bytes())
    at.run()
    assert len(reads) == 2


def charts_of(at: AppTest, kind: str) -> dict[str, object]:
    """The page's charts of one kind ('plotly_chart', or 'bidi_component' for the live charts) by key."""
    keys = ("train-losses", "train-scores")
    return {key: c for c in at.get(kind) for key in keys if key in str(c.proto.id)}


def test_a_running_jobs_curves_go_to_the_live_chart_and_a_finished_runs_to_streamlits(monkeypatch):
    import ui

    monkeypatch.setattr(ui, "REBUILD_S", 0.0)  # figures rebuilt at each run of the page, not once a second
    at, run_id = start_a_long_tiny_job()
    runner = ui.get_runner()
    wait_for(lambda: len(RunStore().open(run_id).steps().get("step", ())) > 0, TIMEOUT, "steps in the store")
    at.run()
    live = charts_of(at, "bidi_component")
    assert set(live) == {"train-losses", "train-scores"} and not charts_of(at, "plotly_chart")
    data = json.loads(live["train-losses"].proto.json)
    assert data["plotly"] == ui.plotly_chunk() and data["plotly"].startswith("PlotlyChart.")
    figure = json.loads(data["figure"])
    assert figure["layout"]["title"]["text"] == "Losses" and figure["layout"]["template"] == json.loads(
        json.dumps(ui.LIVE_TEMPLATE))
    assert {t["name"] for t in figure["data"] if t.get("showlegend") is not False} == {
        "D loss on real", "D loss on fake", "G loss"}

    with monkeypatch.context() as patch:
        patch.setattr(ui, "plotly_chunk", lambda: None)  # a Streamlit build without the chunk: its own chart
        at.run()
        assert set(charts_of(at, "plotly_chart")) == {"train-losses", "train-scores"}

    at.button(key="stop").click().run()
    wait_for(lambda: runner.progress(run_id).status == "stopped", TIMEOUT, "the job to stop")
    at.run()
    assert set(charts_of(at, "plotly_chart")) == {"train-losses", "train-scores"} and not charts_of(at, "bidi_component")


def test_the_train_page_has_the_browser_load_the_live_charts_plotly_before_a_job_starts():
    import ui

    at = app("pages/1_Train.py")
    (prefetch,) = [c for c in at.get("bidi_component") if "plotly-prefetch" in str(c.proto.id)]
    assert json.loads(prefetch.proto.json) == {"plotly": ui.plotly_chunk()}  # no figure: load, draw nothing


def test_while_a_job_trains_the_live_panel_draws_the_quality_charts_and_the_page_once_it_ends(monkeypatch):
    import sys
    import types

    import ui

    monkeypatch.setitem(sys.modules, "dashboard", types.SimpleNamespace(LIVE_ROUTE=object()))  # as `streamlit run` serves it
    at, run_id = start_a_long_tiny_job()
    runner, run = ui.get_runner(), RunStore().open(run_id)
    wait_for(lambda: len(run.discriminator_epochs()) >= 2, TIMEOUT, "two snapshots")
    at.run()
    (panel,) = [c for c in at.get("bidi_component") if "live-panel" in str(c.proto.id)]
    quality = json.loads(json.loads(panel.proto.json)["state"])["quality"]
    assert [frame["name"] for frame in quality["figures"]["discriminator"]["frames"]][:2] == ["0", "5"]
    assert not [c for c in at.get("plotly_chart") if "train-discriminator" in str(c.proto.id)]  # not twice

    at.button(key="stop").click().run()
    wait_for(lambda: runner.progress(run_id).status == "stopped", TIMEOUT, "the job to stop")
    at.run()
    assert not [c for c in at.get("bidi_component") if "live-panel" in str(c.proto.id)]
    assert [c for c in at.get("plotly_chart") if "train-discriminator" in str(c.proto.id)]
