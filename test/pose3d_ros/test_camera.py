import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from pose3d_ros import camera
from pose3d_ros.skeleton import JOINT_NAMES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from h36m_data import H36M_ROOT, needs_h36m  # noqa: E402

DISTORTION = dict(radial=(-0.2, 0.24, -0.0016), tangential=(-0.0009, -0.0020))


def test_projection_without_distortion_is_the_pinhole_model():
    pixels = camera.project([100.0, 200.0, 1000.0], (1000.0, 900.0), (500.0, 400.0))
    np.testing.assert_allclose(pixels, [600.0, 580.0])


def test_distortion_round_trip():
    normalized = np.random.default_rng(0).uniform(-0.4, 0.4, size=(1000, 2))
    distorted = camera.distort(normalized, **DISTORTION)
    assert np.abs(distorted - normalized).max() > 1e-3  # the model does something
    np.testing.assert_allclose(camera.undistort(distorted, **DISTORTION), normalized, atol=1e-9)


def test_projection_back_projection_round_trip():
    rng = np.random.default_rng(1)
    points = np.stack([rng.uniform(-1500, 1500, 500), rng.uniform(-1000, 1000, 500),
                       rng.uniform(2000, 8000, 500)], axis=1)
    focal, center = (1145.0, 1144.0), (512.0, 515.0)
    pixels = camera.project(points, focal, center, **DISTORTION)
    normalized = camera.pixels_to_normalized(pixels, focal, center, **DISTORTION)
    np.testing.assert_allclose(camera.back_project(normalized, points[:, 2]), points, atol=1e-6)


def test_world_camera_round_trip_and_centre_at_origin():
    angle = 0.7
    R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    T = np.array([100.0, -2000.0, 1500.0])
    points = np.random.default_rng(2).normal(0, 1000, size=(4, 17, 3))
    np.testing.assert_allclose(
        camera.camera_to_world(camera.world_to_camera(points, R, T), R, T), points, atol=1e-9)
    np.testing.assert_allclose(camera.world_to_camera(T, R, T), 0.0, atol=1e-12)


def _write_cameras(path, drop=None):
    with h5py.File(path, 'w') as file:
        group = file.create_group('subject9/camera2')
        fields = {'R': np.eye(3), 'T': np.zeros((3, 1)), 'f': np.ones((2, 1)),
                  'c': np.zeros((2, 1)), 'k': np.zeros((3, 1)), 'p': np.zeros((2, 1)),
                  'Name': np.array([[ord(ch)] for ch in '55011271'])}
        for name, value in fields.items():
            if name != drop:
                group[name] = value


def test_load_cameras_reads_the_layout_and_names_missing_fields(tmp_path):
    _write_cameras(tmp_path / 'cameras.h5')
    loaded = camera.load_cameras(tmp_path / 'cameras.h5')
    assert list(loaded) == [(9, 2)] and loaded[(9, 2)].name == '55011271'
    _write_cameras(tmp_path / 'broken.h5', drop='k')
    with pytest.raises(ValueError, match=r"broken.h5: subject9/camera2 has no field 'k'"):
        camera.load_cameras(tmp_path / 'broken.h5')
    with pytest.raises(FileNotFoundError, match='camera file not found: .*nowhere.h5'):
        camera.load_cameras(tmp_path / 'nowhere.h5')


@needs_h36m
def test_human36m_cameras_are_rotations_with_the_known_ids():
    cameras = camera.load_cameras(H36M_ROOT / 'cameras.h5')
    assert {subject for subject, _ in cameras} == {1, 5, 6, 7, 8, 9, 11}
    for (subject, index), cam in cameras.items():
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(cam.R) == pytest.approx(1.0, abs=1e-6)
        assert cam.name == camera.H36M_CAMERA_IDS[index]
        assert 3000 < np.linalg.norm(cam.T[:2]) < 7000  # cameras stand a few metres out



@needs_h36m
def test_human36m_floor_planes_lie_under_the_subjects_feet():
    """Camera.floor_plane in each camera's frame agrees with the world: a S9 recording's ankles,
    seen by every camera, stand a few centimetres above it, and the camera ~1.5 m above it."""
    from training.datasets.h36m import load_h36m
    sequences = load_h36m(H36M_ROOT, [9], actions=['Walking'], detections=False)
    ankles = [JOINT_NAMES.index(name) for name in ('r_foot', 'l_foot')]
    for sequence in sequences:
        plane = sequence.camera.floor_plane()
        heights = sequence.poses_camera[:, ankles] / 1000.0 @ plane[:3] + plane[3]
        assert 0.02 < np.median(heights.min(axis=1)) < 0.15
        np.testing.assert_allclose(np.linalg.norm(plane[:3]), 1.0)
        assert 1.0 < plane[3] < 2.5

def _camera_info(**changes):
    """A 1280x720 CameraInfo (fx = fy = 1000, centred, plumb_bob) with fields changed: 'k0' sets k[0]."""
    from sensor_msgs.msg import CameraInfo
    info = CameraInfo(width=1280, height=720, distortion_model='plumb_bob', d=[0.1, -0.2, 0.0, 0.0, 0.0],
                      k=[1000.0, 0.0, 640.0, 0.0, 1000.0, 360.0, 0.0, 0.0, 1.0])
    for name, value in changes.items():
        if name.startswith('k') and name[1:].isdigit():
            info.k[int(name[1:])] = value
        else:
            setattr(info, name, value)
    return info


def test_sane_camera_infos_pass():
    for info in (_camera_info(), _camera_info(k0=64.0, k4=128000.0),  # the ends of the focal range
                 _camera_info(k2=-640.0, k5=1080.0),  # the principal point half an image outside
                 _camera_info(width=0, height=0)):  # no size: judged against 2 cx x 2 cy
        assert camera.check_camera_info(info) is info


@pytest.mark.parametrize('changes, message', [
    (dict(k0=1e-300), 'CameraInfo.k has focal length fx=1e-300, fy=1000; both must lie in [64, 128000] px '
                      '(0.05 to 100 times the image width 1280)'),
    (dict(k4=0.0), 'CameraInfo.k has focal length fx=1000, fy=0; both must lie in [64, 128000] px'),
    (dict(k0=-1000.0), 'CameraInfo.k has focal length fx=-1000, fy=1000'),
    (dict(k4=2e5), 'CameraInfo.k has focal length fx=1000, fy=200000; both must lie in [64, 128000] px'),
    (dict(k0=float('nan')), 'CameraInfo.k must hold 9 finite values, got [nan, 0.0, 640.0'),
    (dict(k=[1000.0, 0.0, 640.0]), 'CameraInfo.k must hold 9 finite values, got [1000.0, 0.0, 640.0]'),
    (dict(k8=2.0), 'CameraInfo.k [1000.0, 0.0, 640.0, 0.0, 1000.0, 360.0, 0.0, 0.0, 2.0] is not a camera matrix: '
                   'k[3], k[6], k[7], k[8] must be 0, 0, 0, 1'),
    (dict(k2=2000.0), 'CameraInfo.k has principal point cx=2000, cy=360, more than 0.5 image sizes outside the '
                      '1280x720 image'),
    (dict(k5=-400.0), 'CameraInfo.k has principal point cx=640, cy=-400'),
    (dict(d=[0.1, float('inf'), 0.0, 0.0, 0.0]), 'CameraInfo.d contains NaN or infinite values: [0.1, inf, 0.0'),
    (dict(width=0, k0=1e-300), 'CameraInfo.k has focal length fx=1e-300, fy=1000; both must lie in [64, 128000] px '
                               '(0.05 to 100 times the image width 1280)'),
    (dict(width=0, k2=0.0), 'CameraInfo has no size (width 0, height 720) and its principal point cx=0, cy=360 is '
                            'not positive'),
])
def test_insane_camera_infos_are_refused_naming_the_field_and_value(changes, message):
    with pytest.raises(ValueError) as error:
        camera.check_camera_info(_camera_info(**changes))
    assert message in str(error.value)


def test_seeded_fuzz_of_camera_infos_gives_a_sane_camera_or_a_named_refusal():
    """300 CameraInfos with K, D and the size drawn from sane and insane values: each is accepted
    with sane intrinsics or refused with a ValueError naming the CameraInfo field, never anything
    else (the lifter reads whatever arrives on camera_info with it)."""
    rng = np.random.default_rng(17)
    wild = [0.0, -1.0, 1e-300, 1e300, float('nan'), float('inf'), -float('inf'), 3.0, 1e5]
    refused = 0
    for _ in range(300):
        info = _camera_info(width=int(rng.choice([0, 1, 640, 1280, 65535])))
        for _ in range(int(rng.integers(1, 4))):
            field = rng.choice(['k', 'd', 'height'])
            if field == 'k':
                info.k[int(rng.integers(9))] = float(rng.choice(wild)) * rng.choice([1.0, rng.uniform(0, 2)])
            elif field == 'd':
                info.d = [float(rng.choice(wild)) for _ in range(int(rng.integers(0, 9)))]
            else:
                info.height = int(rng.choice([0, 1, 720, 4000]))
        try:
            camera.check_camera_info(info)
        except ValueError as error:
            refused += 1
            assert str(error).startswith(('CameraInfo.k', 'CameraInfo.d', 'CameraInfo has no size')), error
            continue
        k = np.asarray(info.k)
        width = info.width if info.width and info.height else 2 * k[2]
        assert np.all(np.isfinite(k)) and np.all(np.isfinite(info.d)) and width > 0
        assert 0.05 * width <= k[0] <= 100 * width and 0.05 * width <= k[4] <= 100 * width
    assert 100 < refused < 290, refused  # both outcomes are exercised (240 refused)
