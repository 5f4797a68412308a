import numpy as np

from gan.history import IncrementalHistory, downsample


def test_long_history_is_bucketed_to_the_point_budget_keeping_means_and_extremes():
    steps = np.arange(1, 300_001, dtype=float)
    loss = np.sin(steps / 1000)
    loss[123_456] = 50.0  # a spike must survive in the max band
    out = downsample({"step": steps, "g_loss": loss}, max_points=2000)
    assert len(out["step"]) == len(out["g_loss"]) == 2000
    assert np.all(np.diff(out["step"]) > 0)
    assert out["g_loss_max"].max() == 50.0
    assert abs(out["g_loss"][0] - loss[:150].mean()) < 1e-12


def test_short_history_is_returned_unchanged():
    steps = np.arange(1, 11, dtype=float)
    out = downsample({"step": steps, "d_real": steps / 10}, max_points=2000)
    np.testing.assert_array_equal(out["d_real"], steps / 10)


def test_nan_steps_are_ignored_in_the_bucket_mean():
    steps = np.arange(1, 101, dtype=float)
    g = np.where(steps % 2 == 0, 1.0, np.nan)  # G updated every second step
    out = downsample({"step": steps, "g_loss": g}, max_points=10)
    np.testing.assert_array_equal(out["g_loss"], np.ones(10))


def test_empty_history_gives_nothing():
    assert downsample({"step": np.array([])}) == {}


class StoredSteps:
    """A run's steps table and run.json as IncrementalHistory reads them, recording each read."""

    def __init__(self, steps, started=1.0, **metrics):
        self.rows = {"step": np.asarray(steps, dtype=float), **{k: np.asarray(v, float) for k, v in metrics.items()}}
        self.started, self.reads = started, []

    def read_info(self):
        return {"started": self.started}

    def steps(self, after=0):
        self.reads.append(after)
        keep = self.rows["step"] > after
        return {k: v[keep] for k, v in self.rows.items()} if keep.any() else {}

    def write(self, steps, **metrics):
        self.rows = {k: np.concatenate([v, np.asarray(steps if k == "step" else metrics[k], float)])
                     for k, v in self.rows.items()}


def test_incremental_history_reads_only_the_steps_written_since_the_last_update():
    run = StoredSteps([1, 2, 3], g_loss=[0.1, 0.2, 0.3])
    history = IncrementalHistory(run)
    history.update()
    run.write([4, 5], g_loss=[0.4, 0.5])
    columns = history.update()
    assert run.reads == [0, 3]
    np.testing.assert_array_equal(columns["step"], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(columns["g_loss"], [0.1, 0.2, 0.3, 0.4, 0.5])


def test_a_run_trained_again_from_its_checkpoint_is_read_anew():
    run = StoredSteps([1, 2, 3], g_loss=[0.1, 0.2, 0.3])
    history = IncrementalHistory(run)
    history.update()
    run.rows, run.started = {"step": np.array([1.0, 2.0]), "g_loss": np.array([0.7, 0.8])}, 2.0  # steps redone
    columns = history.update()
    assert run.reads[-1] == 0
    np.testing.assert_array_equal(columns["g_loss"], [0.7, 0.8])


def test_a_metric_that_appears_mid_run_is_read_with_all_its_rows():
    run = StoredSteps([1, 2], g_loss=[0.1, 0.2])
    history = IncrementalHistory(run)
    history.update()
    run.rows = {"step": np.arange(1.0, 5.0), "g_loss": np.arange(4.0), "wasserstein": np.array([np.nan, np.nan, 1.0, 2.0])}
    columns = history.update()
    assert {len(v) for v in columns.values()} == {4}
    np.testing.assert_array_equal(columns["wasserstein"][2:], [1.0, 2.0])
