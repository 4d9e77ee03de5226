import numpy as np
import pytest

from pose3d_ros.smoothing import OneEuroFilter, TrackSmoother


def test_jitter_at_rest_is_removed_and_fast_motion_keeps_up():
    rng = np.random.default_rng(0)
    times = np.arange(300) / 30.0
    still = 1.0 + rng.normal(0, 0.01, len(times))
    one = OneEuroFilter(min_cutoff_hz=2.0, beta=3.0)
    filtered = np.array([one(t, x) for t, x in zip(times, still)])
    assert np.abs(np.diff(filtered[30:], 2)).mean() < 0.3 * np.abs(np.diff(still[30:], 2)).mean()
    # A ramp at 2 m/s: the speed raises the cutoff, so the filter lags by well under a frame's motion.
    ramp = 2.0 * times
    for name, beta in (('adaptive', 3.0), ('fixed', 0.0)):
        one = OneEuroFilter(min_cutoff_hz=2.0, beta=beta)
        lag_m = np.mean([t_ramp - one(t, t_ramp) for t, t_ramp in zip(times, ramp)][60:])
        if name == 'adaptive':
            adaptive_lag = lag_m
    assert adaptive_lag < 0.5 * lag_m and adaptive_lag < 2.0 / 30.0


def test_the_first_sample_passes_and_a_replay_restart_starts_afresh():
    one = OneEuroFilter(1.0, 0.0)
    np.testing.assert_array_equal(one(0.0, [1.0, 2.0]), [1.0, 2.0])
    assert one(0.1, [2.0, 2.0])[0] < 2.0
    np.testing.assert_array_equal(one(0.05, [5.0, 5.0]), [5.0, 5.0])  # time went back
    np.testing.assert_array_equal(one(0.1, [[1.0]]), [[1.0]])  # another shape


def test_tracks_are_filtered_apart_and_forgotten():
    smoother = TrackSmoother(min_cutoff_hz=1.0, beta=0.0, forget_after_s=0.5)
    assert smoother(1, 'root', 0.0, 0.0) == 0.0
    assert smoother(2, 'root', 0.0, 10.0) == 10.0  # its own filter
    assert 0.0 < smoother(1, 'root', 0.1, 1.0) < 1.0
    assert smoother(1, 'root', 1.0, 3.0) == 3.0  # unseen for 0.9 s: afresh
    with pytest.raises(ValueError, match='min_cutoff_hz > 0'):
        TrackSmoother(min_cutoff_hz=0.0)
