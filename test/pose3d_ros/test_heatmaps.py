import numpy as np
import pytest

from pose3d_ros.heatmaps import crop_to_heatmap, decode_heatmaps, gaussian_heatmaps, heatmap_to_crop


def test_crop_and_heatmap_coordinates_invert_each_other_and_align_pixel_blocks():
    # Heatmap pixel 0 of stride 4 covers crop pixels 0..3, whose middle is 1.5.
    assert heatmap_to_crop([0.0], 4)[0] == pytest.approx(1.5)
    assert crop_to_heatmap([1.5], 4)[0] == pytest.approx(0.0)
    points = np.random.default_rng(0).uniform(-5, 130, (10, 2))
    np.testing.assert_allclose(heatmap_to_crop(crop_to_heatmap(points, 4), 4), points, atol=1e-4)


def test_decoding_recovers_sub_pixel_peaks_exactly_and_reports_peak_height():
    points = np.array([[3.3, 7.8], [10.0, 0.0], [20.6, 30.2], [15.49, 15.51]])
    maps = gaussian_heatmaps(points, 32, sigma=1.5) * np.array([1.0, 0.5, 0.8, 0.3])[:, None, None]
    decoded, confidence = decode_heatmaps(maps[None])
    assert decoded.shape == (1, 4, 2) and confidence.shape == (1, 4)
    np.testing.assert_allclose(decoded[0], points, atol=1e-3)
    assert confidence[0, 1] == pytest.approx(0.5)  # the peak sits on a pixel


def test_absent_or_far_outside_joints_give_empty_maps():
    maps = gaussian_heatmaps([[5.0, 5.0], [-10.0, 5.0], [5.0, 5.0]], 16, 1.0, present=[True, True, False])
    assert maps[0].max() == pytest.approx(1.0)
    assert maps[1].max() == 0 and maps[2].max() == 0


def test_decoding_a_flat_or_border_peak_does_not_shift_it():
    maps = np.zeros((2, 8, 8), np.float32)
    maps[0, 0, 7] = 1.0          # a corner
    maps[1, 3, 3:5] = 1.0        # a two-pixel flat top: the first wins, unshifted vertically
    decoded, _ = decode_heatmaps(maps)
    np.testing.assert_allclose(decoded[0], [7, 0])
    assert decoded[1, 1] == 3 and 3 <= decoded[1, 0] <= 3.5
