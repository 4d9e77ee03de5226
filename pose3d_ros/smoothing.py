"""Smoothing over time, per tracked person: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012).

A low-pass filter whose cutoff rises with the signal's speed: at rest a low cutoff removes
jitter, in fast motion a high cutoff keeps the lag small. Per value x (every coordinate of a pose
filtered alike, each on its own), with dt the time since the previous sample:

    alpha(f) = 1 / (1 + 1 / (2 pi f dt))
    dx  = lowpass((x - x_prev_filtered) / dt, alpha(d_cutoff))
    x~  = lowpass(x, alpha(min_cutoff + beta |dx|))

`beta` is in 1 / (signal unit): for metres, beta = 1 raises the cutoff by 1 Hz per m/s.
TrackSmoother keeps one filter per (track id, what) and forgets tracks not seen for a while.
"""
import math

import numpy as np

# The lifter node's defaults, picked on Pose2Sim's real videos (docs/results.md: jitter halved,
# under a frame of lag at 30 Hz).
DEFAULT_MIN_CUTOFF_HZ = 2.0
DEFAULT_BETA = 3.0


class OneEuroFilter:
    """One-Euro filter of a fixed-shape array of values."""

    def __init__(self, min_cutoff_hz, beta, d_cutoff_hz=1.0):
        if not (min_cutoff_hz > 0 and d_cutoff_hz > 0 and beta >= 0):
            raise ValueError(f'One-Euro needs min_cutoff_hz > 0, d_cutoff_hz > 0 and beta >= 0, got '
                             f'{min_cutoff_hz}, {d_cutoff_hz}, {beta}')
        self.min_cutoff_hz, self.beta, self.d_cutoff_hz = min_cutoff_hz, beta, d_cutoff_hz
        self.time_s = self.value = self.derivative = None

    @staticmethod
    def _alpha(cutoff_hz, dt):
        return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff_hz * dt))

    def __call__(self, time_s, value):
        """The filtered value at time_s (seconds). The first sample, one of another shape, or one
        not later than the previous sample (a replay restarting) starts the filter afresh."""
        value = np.asarray(value, np.float64)
        if self.value is None or value.shape != self.value.shape or time_s <= self.time_s:
            self.time_s, self.value, self.derivative = time_s, value.copy(), np.zeros_like(value)
            return value.copy()
        dt = time_s - self.time_s
        derivative = (value - self.value) / dt
        self.derivative += self._alpha(self.d_cutoff_hz, dt) * (derivative - self.derivative)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self.derivative)
        self.value = self.value + self._alpha(cutoff, dt) * (value - self.value)
        self.time_s = time_s
        return self.value.copy()


class TrackSmoother:
    """One-Euro filters per (track id, key), e.g. (3, 'pose') and (3, 'root'); a track not updated
    for forget_after_s is dropped, so a returning id starts afresh."""

    def __init__(self, min_cutoff_hz=1.0, beta=1.0, d_cutoff_hz=1.0, forget_after_s=1.0):
        OneEuroFilter(min_cutoff_hz, beta, d_cutoff_hz)  # checks the settings
        self.settings = (min_cutoff_hz, beta, d_cutoff_hz)
        self.forget_after_s = forget_after_s
        self.filters = {}

    def __call__(self, track_id, key, time_s, value):
        """The filtered value of one track's `key` at time_s (seconds)."""
        self.filters = {name: f for name, f in self.filters.items()
                        if not time_s - f.time_s > self.forget_after_s}
        one = self.filters.setdefault((track_id, key), OneEuroFilter(*self.settings))
        return one(time_s, value)

    def reset(self):
        self.filters = {}
