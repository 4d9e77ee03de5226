"""The joint regressor's fit: known weights come back, the cache resumes, the shipped file is sane."""
import json

import numpy as np

from pose3d_ros.inference.blazepose import DEFAULT_JOINT_REGRESSOR, JointRegressor
from pose3d_ros.skeleton import BLAZEPOSE_LANDMARK_NAMES, LSP_JOINT_NAMES
from training.datasets.keypoints import AnnotatedImage, AnnotatedPerson
import pytest

from training.fit_joint_regressor import (LANDMARK, SUPPORT, WORLD_FIELDS, fit, fit_joint, landmark_cache,
                                          read_landmark_cache)


def test_known_weights_are_recovered_and_sum_to_one():
    rng = np.random.default_rng(0)
    landmarks = rng.normal(0, 50, (400, 33, 2)) + rng.uniform(0, 500, (400, 1, 2))
    support = [LANDMARK[name] for name in SUPPORT['head_top']]
    truth = rng.normal(0, 1, len(support))
    truth += (1 - truth.sum()) / len(truth)
    targets = landmarks[:, support, :].transpose(0, 2, 1) @ truth
    weights = fit_joint(landmarks, targets, np.full(400, 40.0), support, np.full(len(support), 1 / len(support)))
    np.testing.assert_allclose(weights, truth, atol=1e-3)
    assert abs(weights.sum() - 1) < 1e-9


def test_fit_moves_each_joint_from_its_landmark_to_the_annotation_and_reports_it():
    rng = np.random.default_rng(1)
    images, marks = [], []
    for _ in range(200):
        points = rng.uniform(0, 300, (33, 2))
        joints = points[[LANDMARK.get(name, LANDMARK['nose']) for name in LSP_JOINT_NAMES]].copy()
        hips = LANDMARK['l_hip'], LANDMARK['r_hip']
        # LSP's hips lie a little outside BlazePose's: 20 % further apart
        joints[LSP_JOINT_NAMES.index('l_hip')] = points[hips[0]] + 0.2 * (points[hips[0]] - points[hips[1]])
        images.append(AnnotatedImage(None, [AnnotatedPerson(joints, np.ones(14, bool))]))
        marks.append(points)
    weights, report = fit(np.array(marks), images)
    l_hip = LSP_JOINT_NAMES.index('l_hip')
    np.testing.assert_allclose(weights[l_hip, [LANDMARK['l_hip'], LANDMARK['r_hip']]], [1.2, -0.2], atol=1e-2)
    assert report['l_hip']['pck@0.2'] == 1.0 and report['l_hip']['samples'] == 200


def test_the_landmark_cache_resumes_where_it_stopped(tmp_path):
    images = [AnnotatedImage(None, [AnnotatedPerson(np.zeros((14, 2)), np.ones(14, bool))]) for _ in range(3)]
    for image in images:
        image.read_image = lambda: np.zeros((4, 4, 3), np.uint8)
    for number, image in enumerate(images):
        image.path = tmp_path / f'im{number:05d}.jpg'
    calls = []

    def detect(rgb):
        calls.append(1)
        return [np.full((33, 2), float(len(calls)))]

    first = landmark_cache(images[:2], 'key', tmp_path, detect)
    again = landmark_cache(images, 'key', tmp_path, detect)
    assert len(calls) == 3  # the third photo only
    np.testing.assert_array_equal(again[:2], first)


def test_a_world_cache_keeps_the_world_landmarks_and_reads_as_pixels_too(tmp_path):
    images = [AnnotatedImage(tmp_path / f'im{k:05d}.jpg', [AnnotatedPerson(np.zeros((14, 2)), np.ones(14, bool))])
              for k in range(2)]
    for image in images:
        image.read_image = lambda: np.zeros((4, 4, 3), np.uint8)
    values = np.arange(33 * 6, dtype=np.float64).reshape(33, 6)
    world = landmark_cache(images, 'world', tmp_path, lambda rgb: [values], WORLD_FIELDS)
    assert world.shape == (2, 33, 6)
    path = tmp_path / 'landmarks-world.npz'
    np.testing.assert_array_equal(read_landmark_cache(path, images, WORLD_FIELDS)[1], values)
    np.testing.assert_array_equal(read_landmark_cache(path, images)[1], values[:, :2])
    with pytest.raises(ValueError, match=r'landmarks-world\.npz: stores 6 values per landmark, not the 2 of'):
        landmark_cache(images, 'world', tmp_path, lambda rgb: [values[:, :2]])


def test_the_shipped_regressor_is_fitted_and_loads():
    saved = json.loads(DEFAULT_JOINT_REGRESSOR.read_text())
    assert saved['landmarks'] == list(BLAZEPOSE_LANDMARK_NAMES) and saved['joints'] == list(LSP_JOINT_NAMES)
    weights = np.array(saved['weights'])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert 'im00401-im08400' in saved['fitted_on']
    for name, row in saved['report'].items():
        assert row['samples'] > 5000 and row['pck@0.2'] > 0.5, name
    JointRegressor(DEFAULT_JOINT_REGRESSOR)
