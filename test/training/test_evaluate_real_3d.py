"""PRCNN scored on a real-video frame: the drpose3d front end's crop, heatmaps at the front end's
joints, the per-pair figure."""
import sys
from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.heatmaps import decode_heatmaps, heatmap_to_crop
from pose3d_ros.inference.backends import make_backend
from pose3d_ros.inference.drpose3d import TRACKING_MARGIN
from pose3d_ros.inference.person import Person2D
from pose3d_ros.ranking import TIE, ranking_matrix
from pose3d_ros.skeleton import torso_lengths
from training import evaluate_real_3d
from training.evaluate_real_3d import (EQ1_TIE_MM, HeatmapsAtJoints, PRCNNScorer, depth_error_report, ranking_report,
                                      report_names, torso_residuals)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'pose3d_ros'))
from random_networks import write_networks  # noqa: E402


def person(joints, confidence):
    return Person2D(id=0, score=1.0, box=np.zeros(4), joints_2d=joints.astype(np.float32),
                    confidence=np.asarray(confidence, np.float32), crop_box=np.zeros(4),
                    probabilities=np.full((16, 16), 0.5, np.float32), ranking=np.full((16, 16), TIE, np.float32))


class Recording:
    """A PRCNN backend that records its inputs and scores joint k as k."""

    def __init__(self):
        self.inputs = []

    def __call__(self, image, heatmaps):
        self.inputs.append((image, heatmaps))
        return np.arange(16, dtype=np.float32)[None]


def test_prcnn_reads_the_tracked_crop_and_heatmaps_at_the_front_ends_joints():
    rng = np.random.default_rng(0)
    joints = rng.uniform([300, 200], [420, 500], (16, 2))
    confidence = np.full(16, 0.9)
    confidence[3] = 0.1  # an unsure joint does not widen the crop, but is drawn
    frame = rng.integers(0, 255, (720, 960, 3), np.uint8)
    prcnn = Recording()
    scorer = PRCNNScorer(prcnn, input_size=64, sigma=1.0, flip_test=False)
    ranking = scorer.ranking(frame, person(joints, confidence))
    np.testing.assert_array_equal(ranking, ranking_matrix(np.arange(16.0), 0.5))  # scores k: k behind all below
    image, heatmaps = prcnn.inputs[0]
    assert image.shape == (1, 3, 64, 64) and heatmaps.shape == (1, 16, 16, 16)
    sure = np.delete(joints, 3, axis=0)
    centre, side = (sure.min(0) + sure.max(0)) / 2, (sure.max(0) - sure.min(0)).max() * TRACKING_MARGIN
    peaks, _ = decode_heatmaps(heatmaps[0])
    expected = (joints - centre) / side * 64 + 31.5
    inside = np.all((expected > 1) & (expected < 62), axis=1)
    np.testing.assert_allclose(heatmap_to_crop(peaks, 4)[inside], expected[inside], atol=0.6)


def test_a_prcnn_checkpoint_scores_frames_and_the_report_draws_figure_6(tmp_path):
    paths = write_networks(tmp_path, 64)
    scorer = PRCNNScorer(make_backend('prcnn', paths['prcnn'], 'pytorch'), input_size=64)
    frame = np.zeros((240, 320, 3), np.uint8)
    joints = np.random.default_rng(1).uniform([100, 40], [200, 200], (16, 2))
    predicted = np.stack([scorer.ranking(frame, person(joints, np.ones(16))) for _ in range(2)])
    depths = np.arange(16.0) * 30
    targets = {margin: (predicted, np.stack([ranking_matrix(depths, margin)] * 2)) for margin in (100.0, EQ1_TIE_MM)}
    report = ranking_report(targets)
    assert set(report['ranking_accuracy']) == {'pairs > 100 mm apart', 'pairs > 20 mm apart'}
    assert 0 <= report['ranking_accuracy']['pairs > 20 mm apart'] <= 1
    assert report['pair_accuracy_eq1'][0][0] is None and len(report['pair_accuracy_eq1']) == 16
    from training.evaluate_image_models import save_pair_figure
    save_pair_figure(tmp_path / 'pairs.png', report['pair_accuracy_eq1'], 'PRCNN')
    assert (tmp_path / 'pairs.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_hourglass_needs_prcnn(capsys):
    with pytest.raises(SystemExit, match='2'):
        evaluate_real_3d.main(['--hourglass', 'hourglass.pt'])
    assert '--hourglass needs --prcnn' in capsys.readouterr().err


def test_depth_error_is_each_joints_spread_about_its_own_bias():
    rng = np.random.default_rng(0)
    spread = np.linspace(20, 160, 16)
    errors = 40 + rng.normal(size=(4000, 16)) * spread  # a constant 40 mm bias is no ranking error
    report = depth_error_report(errors)
    np.testing.assert_allclose(report['per_joint_std'], spread, rtol=0.05)
    assert report['std'] == pytest.approx(np.sqrt(np.mean(spread ** 2)), rel=0.05)


def test_depth_error_out_needs_a_front_end_that_measures_depths(capsys):
    with pytest.raises(SystemExit, match='2'):
        evaluate_real_3d.main(['--front-end', 'drpose3d', '--depth-error-out', 'depth.npy'])
    assert '--depth-error-out needs a front end that measures depths (blazepose); drpose3d' in capsys.readouterr().err


def test_heatmaps_at_joints_follow_the_crop_box():
    maps = HeatmapsAtJoints(64, 1.0)
    maps.place(np.array([[50.0, 50.0]] * 16), (np.array([50.0, 50.0]), 100.0))
    peaks, values = decode_heatmaps(maps(None)[0])
    np.testing.assert_allclose(heatmap_to_crop(peaks, 4), 31.5, atol=0.05)
    assert values.min() > 0.7  # the peak between heatmap pixels


def test_2d_residuals_are_in_the_references_torso_lengths():
    rng = np.random.default_rng(0)
    projected = rng.uniform(100, 500, (16, 2))
    torso = torso_lengths(projected)
    joints = projected + [0.1 * torso, -0.05 * torso]
    residuals = torso_residuals(joints.astype(np.float32), projected)
    np.testing.assert_allclose(residuals, np.tile([0.1, -0.05], (16, 1)), atol=1e-5)
    # The same body twice as large in the image, twice the pixels off: the same residual.
    np.testing.assert_allclose(torso_residuals(2 * joints, 2 * projected), residuals, atol=1e-5)


def test_lifters_sharing_a_file_name_keep_their_own_rows():
    assert report_names(['runs/a/checkpoint.pt', 'runs/b/checkpoint.pt', 'weights/lifter.pt']) == \
        ['runs/a/checkpoint.pt', 'runs/b/checkpoint.pt', 'lifter.pt']


def test_cameras_are_checked(capsys):
    with pytest.raises(SystemExit, match='2'):
        evaluate_real_3d.main(['--cameras', 'cam01', 'cam05'])
    assert "argument --cameras: invalid choice: 'cam05'" in capsys.readouterr().err
