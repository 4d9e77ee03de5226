import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from pose3d_ros.camera import H36M_CAMERA_IDS
from pose3d_ros.skeleton import DETECTED_JOINTS, MPII_TO_CANONICAL
from training.datasets import h36m

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402


def test_actions_are_the_fifteen_h36m_actions():
    assert len(h36m.ACTIONS) == len(set(h36m.ACTIONS)) == 15
    assert {'Photo', 'WalkDog', 'SittingDown', 'WalkTogether'} <= set(h36m.ACTIONS)


def test_action_of_strips_the_take_number():
    assert h36m.action_of('Directions 1') == 'Directions'
    assert h36m.action_of('SittingDown') == 'SittingDown'


def _tiny_dataset(root, frames=5, detection_frames=5):
    """One subject (S9), one recording, cameras 1 and 2; detections only for camera 1."""
    (root / 'S9/MyPoses/3D_positions').mkdir(parents=True)
    (root / 'S9/StackedHourglass').mkdir(parents=True)
    with h5py.File(root / 'cameras.h5', 'w') as file:
        for index in (1, 2):
            group = file.create_group(f'subject9/camera{index}')
            group['R'] = np.diag([1.0, -1.0, -1.0]).T  # looks down the world -z axis
            group['T'] = np.array([[0.0], [0.0], [5000.0]])
            group['f'], group['c'] = np.full((2, 1), 1000.0), np.full((2, 1), 500.0)
            group['k'], group['p'] = np.zeros((3, 1)), np.zeros((2, 1))
            group['Name'] = np.array([[ord(ch)] for ch in H36M_CAMERA_IDS[index]])
    poses32 = np.arange(frames * 96, dtype=float).reshape(frames, 32, 3)
    with h5py.File(root / 'S9/MyPoses/3D_positions/Walking 1.h5', 'w') as file:
        file['3D_positions'] = poses32.reshape(frames, 96).T
    mpii = np.arange(detection_frames * 32, dtype=float).reshape(detection_frames, 16, 2)
    with h5py.File(root / f'S9/StackedHourglass/Walking_1.{H36M_CAMERA_IDS[1]}.h5', 'w') as file:
        file['poses'] = mpii
    return poses32, mpii


def test_loader_aligns_frames_and_reorders_joints(tmp_path):
    poses32, mpii = _tiny_dataset(tmp_path)
    with pytest.warns(UserWarning, match=r'detections missing: .*Walking_1\.55011271\.h5'):
        sequences = h36m.load_h36m(tmp_path, [9])
    assert [(s.action, s.name, s.camera_index) for s in sequences] == [('Walking', 'Walking 1', 1)]
    sequence = sequences[0]
    np.testing.assert_array_equal(sequence.poses_world[:, 9], poses32[:, 14])  # neck/nose
    # detections: MPII joint k lands at the rank of its canonical joint in DETECTED_JOINTS
    for mpii_index, canonical in enumerate(MPII_TO_CANONICAL):
        rank = DETECTED_JOINTS.tolist().index(canonical)
        np.testing.assert_array_equal(sequence.detections[:, rank], mpii[:, mpii_index])
    # camera at z = 5000 looking down: depth = 5000 - world z
    np.testing.assert_allclose(sequence.poses_camera[..., 2], 5000 - sequence.poses_world[..., 2])


def test_loader_rejects_misaligned_files_and_bad_requests(tmp_path):
    _tiny_dataset(tmp_path, frames=5, detection_frames=4)
    with pytest.raises(ValueError, match=r'Walking_1\.54138969\.h5: 4 frames but .*Walking 1\.h5 has 5'):
        h36m.load_h36m(tmp_path, [9], cameras=(1,))
    with pytest.raises(ValueError, match=r"unknown actions \['Dancing'\]"):
        h36m.load_h36m(tmp_path, [9], actions=('Dancing',))
    with pytest.raises(ValueError, match=r'camera indices must be in 1..4, got \[5\]'):
        h36m.load_h36m(tmp_path, [9], cameras=(5,))
    with pytest.warns(UserWarning, match='subject S11 not found'):
        assert h36m.load_h36m(tmp_path, [11]) == []


@needs_h36m
def test_every_file_of_the_shared_copy_is_read_or_reported():
    subjects = sorted(int(p.name[1:]) for p in H36M_ROOT.glob('S*') if p.is_dir())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        sequences = h36m.load_h36m(H36M_ROOT, subjects)
    read = {(s.subject, s.name.replace(' ', '_'), H36M_CAMERA_IDS[s.camera_index]) for s in sequences}
    reported = ' '.join(str(w.message) for w in caught)
    for path in H36M_ROOT.glob('S*/StackedHourglass/*.h5'):
        stem, camera_id, _ = path.name.split('.')
        key = (int(path.parts[-3][1:]), stem, camera_id)
        pose_file = path.parents[1] / 'MyPoses' / '3D_positions' / f'{stem.replace("_", " ")}.h5'
        assert key in read or str(pose_file) in reported, path
    for path in H36M_ROOT.glob('S*/MyPoses/3D_positions/*.h5'):
        assert (int(path.parts[-4][1:]), path.stem.replace(' ', '_')) in {k[:2] for k in read}, path
    assert {s.action for s in sequences} == set(h36m.ACTIONS)


@needs_h36m
def test_s9_ground_truth_projects_onto_the_hourglass_detections():
    sequences = h36m.load_h36m(H36M_ROOT, [9])
    residual = np.concatenate([
        np.linalg.norm(s.joints_2d[:, DETECTED_JOINTS] - s.detections, axis=-1).ravel()
        for s in sequences])
    assert np.median(residual) < 15.0


@needs_h36m
def test_subsets_read_only_what_was_asked():
    sequences = h36m.load_h36m(H36M_ROOT, [9], cameras=(2,), actions=('Walking',),
                               detections=False)
    assert {(s.subject, s.action, s.camera_index) for s in sequences} == {(9, 'Walking', 2)}
    assert all(s.detections is None for s in sequences)
