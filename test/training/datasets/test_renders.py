import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3d_ros.heatmaps import decode_heatmaps, heatmap_to_crop
from pose3d_ros.ranking import ranking_matrix
from training.datasets.renders import RenderedPoses, load_poses

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402


@pytest.fixture(scope='module')
def poses():
    return load_poses(H36M_ROOT, [1], frame_step=50)


@needs_h36m
def test_items_are_consistent_and_deterministic(poses):
    dataset = RenderedPoses(poses, count=8, size=64, seed=3)
    item = dataset[5]
    assert item['image'].shape == (3, 64, 64) and item['image'].dtype == torch.uint8
    assert item['heatmaps'].shape == (16, 16, 16)
    assert torch.equal(item['ranking'], torch.from_numpy(ranking_matrix(item['depths'].numpy(), 20.0)))
    inside = np.all((item['joints_2d'].numpy() > 2) & (item['joints_2d'].numpy() < 61), axis=1)
    peaks, _ = decode_heatmaps(item['heatmaps'].numpy())
    np.testing.assert_allclose(heatmap_to_crop(peaks, 4)[inside], item['joints_2d'].numpy()[inside], atol=0.05)
    # The drawn head spans upper neck to head top: about twice Human3.6M's neck/nose-head bone.
    rendering = dataset.rendering(5)
    bone_px = rendering.focal * np.linalg.norm(rendering.pose_camera[10] - rendering.pose_camera[9]) / \
        rendering.pose_camera[9:11, 2].mean()
    assert 1.6 < item['head_size'] / bone_px < 2.6
    again = dataset[5]
    assert all(torch.equal(item[key], again[key]) for key in item)
    dataset.set_epoch(1)
    assert not torch.equal(dataset[5]['image'], item['image'])
    with pytest.raises(IndexError):
        dataset[8]


@needs_h36m
def test_virtual_cameras_show_many_viewpoints(poses):
    dataset = RenderedPoses(poses, count=40, size=64)
    # The chest faces the camera (negative z of the body's forward) in some renders and away in others.
    facing = []
    for index in range(len(dataset)):
        rendering = dataset.rendering(index)
        pose = rendering.pose_camera
        across = pose[4] - pose[1]  # l_hip - r_hip
        facing.append(across[0] > 0)  # left hip on the image's right: seen from the front
    assert 0.2 < np.mean(facing) < 0.8


def test_sizes_must_fit_the_heatmap_stride():
    with pytest.raises(ValueError, match='multiple of 4, got 66'):
        RenderedPoses(np.zeros((1, 17, 3)), 1, size=66)
