import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.ranking import TIE
from pose3d_ros.skeleton import BONES, DETECTED_JOINTS, PARENTS
from training.augmentation import fit_detection_noise
from training.datasets.h36m import load_h36m
from training.datasets.lifting import (RankingNoise, detection_residuals, lifting_frames, load_depth_error,
                                       load_pair_accuracy, ranking_inputs, training_batch, virtual_camera_frames)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402


@pytest.fixture(scope='module')
def walking():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return load_h36m(H36M_ROOT, [9], cameras=(1, 2), actions=['Walking'])


def pinhole(poses):
    return poses[:, DETECTED_JOINTS, :2] / poses[:, DETECTED_JOINTS, 2:]


def bone_lengths(poses):
    children = np.array([child for _, child in BONES])
    return np.linalg.norm(poses[:, children] - poses[:, PARENTS[children]], axis=-1)


@needs_h36m
def test_ground_truth_inputs_are_the_undistorted_pinhole_projection(walking):
    frames = lifting_frames(walking, 'ground_truth', frame_step=5)
    assert len(frames) == sum(len(s.poses_world[::5]) for s in walking)
    assert set(frames.actions) == {'Walking'}
    np.testing.assert_allclose(frames.joints_2d, pinhole(frames.poses_camera), atol=1e-5)


@needs_h36m
def test_detection_inputs_sit_near_the_ground_truth(walking):
    detected = lifting_frames(walking, 'detections', frame_step=5)
    truth = lifting_frames(walking, 'ground_truth', frame_step=5)
    pixels = np.linalg.norm(detected.joints_2d - truth.joints_2d, axis=-1) * walking[0].camera.focal.mean()
    assert 3 < np.median(pixels) < 20
    with pytest.raises(ValueError, match="inputs_2d must be one of .*'heatmaps'"):
        lifting_frames(walking, 'heatmaps')


@needs_h36m
def test_virtual_cameras_see_the_same_rigid_poses_from_new_places(walking):
    rng = np.random.default_rng(0)
    frames = virtual_camera_frames(rng, walking, cameras_per_pose=3, frame_step=10)
    poses_per_recording = [len(s.poses_world[::10]) for s in walking if s.camera_index == 1]
    assert len(frames) == 3 * sum(poses_per_recording)
    np.testing.assert_allclose(frames.joints_2d, pinhole(frames.poses_camera), atol=1e-5)
    world = np.repeat(np.concatenate([s.poses_world[::10] for s in walking if s.camera_index == 1]), 3, 0)
    np.testing.assert_allclose(bone_lengths(frames.poses_camera), bone_lengths(world), atol=1e-2)
    distance = np.linalg.norm(frames.poses_camera[:, 0], axis=-1)
    assert 4000 < np.median(distance) < 6500
    # Views differ from the real cameras': the camera-frame root direction spreads widely.
    assert np.std(frames.poses_camera[:, 10, 1] - frames.poses_camera[:, 0, 1]) > 100


@needs_h36m
def test_virtual_camera_noise_follows_the_fitted_detector_noise(walking):
    residuals = detection_residuals(walking, frame_step=2)
    model = fit_detection_noise(np.random.default_rng(0), residuals)
    noisy = virtual_camera_frames(np.random.default_rng(1), walking, 4, model, frame_step=2)
    pixels = (noisy.joints_2d - pinhole(noisy.poses_camera)) * walking[0].camera.focal.mean()
    assert np.allclose(np.std(pixels, axis=0), np.std(residuals, axis=0), rtol=0.25)


@needs_h36m
def test_mirrored_batches_stay_consistent_projections(walking):
    frames = lifting_frames(walking, 'ground_truth', frame_step=5)
    rng = np.random.default_rng(0)
    batch = training_batch(rng, frames, np.arange(200), 'ground_truth', 20.0, mirror=True)
    mirrored = np.any(batch['poses'] != frames.poses_camera[:200], axis=(1, 2))
    assert 60 < mirrored.sum() < 140
    np.testing.assert_allclose(batch['joints_2d'], pinhole(batch['poses']), atol=1e-5)
    np.testing.assert_array_equal(batch['ranking'], batch['ranking_target'])
    assert batch['coarse_depth'].shape == (200, 16)


def test_ranking_inputs_by_source():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 300, (500, 17, 3)) + [0, 0, 5000]
    assert ranking_inputs(rng, poses, 'none', 20.0) is None
    clean = ranking_inputs(rng, poses, 'ground_truth', 20.0)
    noisy = ranking_inputs(rng, poses, 'noisy', 20.0, RankingNoise.load(0.91))
    untied = np.triu(clean != TIE, 1)
    assert np.mean(noisy[untied] != clean[untied]) == pytest.approx(0.09, abs=0.01)
    with pytest.raises(ValueError, match="ranking must be one of .*'predicted'"):
        ranking_inputs(rng, poses, 'predicted', 20.0)


def test_depth_noise_confuses_close_pairs_more_than_far_ones():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 300, (2000, 17, 3)) + [0, 0, 5000]
    clean = ranking_inputs(rng, poses, 'ground_truth', 20.0)
    noise = RankingNoise.load(1.0, 100.0)
    noisy = ranking_inputs(rng, poses, 'noisy', 20.0, noise)
    depths = poses[:, DETECTED_JOINTS, 2]
    apart = np.abs(depths[:, :, None] - depths[:, None, :])
    upper = np.triu(np.ones((16, 16), bool), 1)
    wrong = noisy != clean
    close, far = upper & (apart > 20) & (apart < 100), upper & (apart > 400)
    # Two joints' depth difference errs by N(0, 100 sqrt 2) mm: often within 100 mm, rarely past 400.
    assert np.mean(wrong[close]) > 0.3 and np.mean(wrong[far]) < 0.01
    # Without depth noise no normal is drawn: the flips keep the stream they had before it existed.
    first, second = (ranking_inputs(np.random.default_rng(1), poses, 'noisy', 20.0, flips_only)
                     for flips_only in (RankingNoise.load(0.91), RankingNoise.load(0.91, np.zeros(16))))
    np.testing.assert_array_equal(first, second)


def test_depth_error_from_a_number_or_a_file(tmp_path):
    assert np.all(load_depth_error(80) == 80.0)
    np.save(tmp_path / 'depth.npy', np.arange(16.0))
    np.testing.assert_array_equal(load_depth_error(str(tmp_path / 'depth.npy')), np.arange(16.0))
    np.save(tmp_path / 'short.npy', np.ones(3))
    with pytest.raises(ValueError, match=r'short\.npy: expected shape \(16,\), got \(3,\)'):
        load_depth_error(tmp_path / 'short.npy')
    with pytest.raises(ValueError, match=r'missing\.npy: cannot read 16 values'):
        load_depth_error(tmp_path / 'missing.npy')
    with pytest.raises(ValueError, match=r'depth error -1: standard deviations must be >= 0 mm'):
        load_depth_error(-1)


def test_pair_accuracy_from_a_number_or_a_file(tmp_path):
    assert np.all(load_pair_accuracy(0.9) == 0.9)
    matrix = np.full((16, 16), 0.8)
    matrix[2, 3] = matrix[3, 2] = np.nan
    np.save(tmp_path / 'accuracy.npy', matrix)
    loaded = load_pair_accuracy(str(tmp_path / 'accuracy.npy'))
    assert loaded[2, 3] == 1.0 and loaded[0, 1] == 0.8
    (tmp_path / 'accuracy.json').write_text(json.dumps(np.full((16, 16), 0.7).tolist()))
    assert np.all(load_pair_accuracy(tmp_path / 'accuracy.json') == 0.7)
    (tmp_path / 'small.json').write_text(json.dumps([[1.0]]))
    with pytest.raises(ValueError, match=r'small\.json: expected shape \(16, 16\), got \(1, 1\)'):
        load_pair_accuracy(tmp_path / 'small.json')
    with pytest.raises(ValueError, match=r'missing\.npy: cannot read'):
        load_pair_accuracy(tmp_path / 'missing.npy')
    with pytest.raises(ValueError, match=r'values must lie in \[0, 1\]'):
        load_pair_accuracy(1.5)
