import numpy as np

from gan.history import downsample


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
