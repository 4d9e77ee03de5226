import io
import zipfile

import cv2
import numpy as np
import pytest

from training.datasets import pose2sim
from training.datasets.pose2sim import CalibratedCamera, load_qca_calibration, read_video_frames, triangulate

# One video camera at (0, -3, 1) m looking along world +y, upright (image y = world -z), seeing a
# 1000 x 800 window of its sensor that starts at sensor pixel (100, 50); f = 1000 px, principal
# point at the window's centre. Its Qualisys rotation rows are the camera's x, y (up) and z
# (backwards) axes in world coordinates. A marker camera follows, which has no video.
QCA = '''<?xml version='1.0' encoding='ASCII'?>
<calibration type="regular">
  <cameras>
    <camera active="1" model="Miqus Video" serial="cam01" viewrotation="{viewrotation}">
      <fov_video left="100" top="50" right="1099" bottom="849"/>
      <transform r11="1" r12="0" r13="0" r21="0" r22="0" r23="1" r31="0" r32="{r32}" r33="0"
                 x="0" y="-3000" z="1000"/>
      <intrinsic focalLengthU="{focal_u}" focalLengthV="64000" centerPointU="38400" centerPointV="28800"
                 radialDistortion1="{k1}" radialDistortion2="0" radialDistortion3="0"
                 tangentalDistortion1="{p1}" tangentalDistortion2="0" skew="0"/>
    </camera>
    <camera active="1" model="Miqus M3" serial="marker07" viewrotation="0">
      <fov_marker left="0" top="0" right="1823" bottom="1087"/>
    </camera>
  </cameras>
</calibration>
'''
KNOWN_POINT = np.array([0.3, 0.0, 1.5])  # 0.3 right, 3 m ahead, 0.5 m above the camera
KNOWN_PIXEL = np.array([500 + 1000 * 0.3 / 3, 400 - 1000 * 0.5 / 3])


def write_qca(tmp_path, **fields):
    values = {'viewrotation': '0', 'r32': '-1', 'focal_u': '64000', 'k1': '0', 'p1': '0', **fields}
    path = tmp_path / 'Calib.qca.txt'
    path.write_text(QCA.format(**values))
    return path


def test_a_qca_camera_projects_a_known_point_to_its_pixel(tmp_path):
    cameras = load_qca_calibration(write_qca(tmp_path))
    assert list(cameras) == ['cam01']  # the marker camera is skipped
    camera = cameras['cam01']
    assert camera.image_size == (1000, 800)
    np.testing.assert_allclose(camera.focal, [1000, 1000])
    np.testing.assert_allclose(camera.center, [500, 400])  # sensor units / 64, minus the window's corner
    np.testing.assert_allclose(camera.position, [0, -3, 1], atol=1e-12)
    np.testing.assert_allclose(camera.world_to_camera(KNOWN_POINT), [0.3, -0.5, 3.0], atol=1e-12)
    np.testing.assert_allclose(camera.project(KNOWN_POINT), KNOWN_PIXEL, atol=1e-9)
    np.testing.assert_allclose(camera.pixels_to_normalized(KNOWN_PIXEL), [0.1, -0.5 / 3], atol=1e-12)


def test_qca_lens_coefficients_follow_opencvs_model(tmp_path):
    # Unlike focal lengths and principal points, the coefficients are not in sensor units.
    camera = load_qca_calibration(write_qca(tmp_path, k1='0.1', p1='0.001'))['cam01']
    np.testing.assert_allclose(camera.radial, [0.1, 0, 0])
    np.testing.assert_allclose(camera.tangential, [0.001, 0])
    np.testing.assert_allclose(camera.distortion, [0.1, 0, 0.001, 0, 0])  # OpenCV's (k1, k2, p1, p2, k3)
    x, y = 0.1, -0.5 / 3
    r2 = x * x + y * y
    distorted = [x * (1 + 0.1 * r2) + 2 * 0.001 * x * y, y * (1 + 0.1 * r2) + 0.001 * (r2 + 2 * y * y)]
    expected = 1000 * np.array(distorted) + [500, 400]
    np.testing.assert_allclose(camera.project(KNOWN_POINT), expected, atol=1e-9)
    np.testing.assert_allclose(camera.pixels_to_normalized(camera.project(KNOWN_POINT)), [x, y], atol=1e-12)


@pytest.mark.parametrize('fields, message', [
    ({'focal_u': 'abc'}, r'<intrinsic focalLengthU="abc"> is not a finite number'),
    ({'r32': '-2'}, r'<transform> r11\.\.r33 is not a rotation matrix'),
    ({'r32': '1'}, r'<transform> r11\.\.r33 is not a rotation matrix'),  # a reflection
    ({'viewrotation': '90'}, r'viewrotation="90" is not supported'),
])
def test_malformed_qca_fields_are_named_with_file_and_camera(tmp_path, fields, message):
    path = write_qca(tmp_path, **fields)
    with pytest.raises(ValueError, match=rf"Calib\.qca\.txt: camera 0 \(serial 'cam01'\): {message}"):
        load_qca_calibration(path)


def test_missing_qca_parts_are_named(tmp_path):
    path = write_qca(tmp_path)
    path.write_text(path.read_text().replace('centerPointV="28800"', ''))
    with pytest.raises(ValueError, match=r"Calib\.qca\.txt: camera 0 \(serial 'cam01'\): "
                                         r"<intrinsic> has no attribute 'centerPointV'"):
        load_qca_calibration(path)
    path.write_text(write_qca(tmp_path).read_text().replace('<fov_video', '<fov_other'))
    with pytest.raises(ValueError, match=r"camera 0 \(serial 'cam01'\): no <fov_video> element"):
        load_qca_calibration(path)
    path.write_text('<calibration><cameras>')
    with pytest.raises(ValueError, match=r'Calib\.qca\.txt: not valid XML'):
        load_qca_calibration(path)
    path.write_text('<calibration><cameras/></calibration>')
    with pytest.raises(ValueError, match=r'Calib\.qca\.txt: no video camera under <cameras>'):
        load_qca_calibration(path)
    with pytest.raises(FileNotFoundError, match='absent.qca.txt'):
        load_qca_calibration(tmp_path / 'absent.qca.txt')


def look_at(position, target, **lens):
    """A 1000 x 800 camera at `position` looking at `target`, image y pointing down in world -z."""
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    R = np.stack([right, np.cross(forward, right), forward])
    lens = {'radial': np.zeros(3), 'tangential': np.zeros(2), **lens}
    return CalibratedCamera(name='', image_size=(1000, 800), focal=np.array([1000.0, 1010.0]),
                            center=np.array([510.0, 395.0]), R=R, t=-R @ position, **lens)


def four_cameras(**lens):
    target = np.array([0, 0, 1.0])
    return [look_at(np.array([3 * np.cos(a), 3 * np.sin(a), 1.5 + 0.2 * i]), target, **lens)
            for i, a in enumerate(np.radians([10, 100, 190, 280]))]


POINTS = np.random.default_rng(0).uniform([-0.4, -0.4, 0.1], [0.4, 0.4, 1.8], size=(17, 3))


STRONG_LENS = {'radial': np.array([-0.25, 0.08, -0.01]), 'tangential': np.array([0.002, -0.001])}


@pytest.mark.parametrize('lens', [{}, STRONG_LENS])
def test_triangulation_recovers_points_seen_by_four_cameras(lens):
    cameras = four_cameras(**lens)
    points_2d = np.stack([camera.project(POINTS) for camera in cameras])
    assert np.all((points_2d > 0) & (points_2d < [1000, 800]))
    points, errors = triangulate(points_2d, np.full((4, 17), 0.9), cameras)
    np.testing.assert_allclose(points, POINTS, atol=1e-9)
    np.testing.assert_allclose(errors, 0, atol=1e-6)


def test_views_below_the_confidence_threshold_are_ignored():
    cameras = four_cameras()
    points_2d = np.stack([camera.project(POINTS) for camera in cameras])
    confidence = np.full((4, 17), 0.9)
    points_2d[1] += 40.0  # a wrong detection ...
    confidence[1] = 0.2   # ... that says so
    confidence[3, 5] = np.nan   # joint 5: views 0 and 2 left, still enough
    confidence[2:, 7] = 0.0     # joint 7: view 0 left
    points, errors = triangulate(points_2d, confidence, cameras, min_confidence=0.5)
    seen = np.arange(17) != 7
    np.testing.assert_allclose(points[seen], POINTS[seen], atol=1e-9)
    np.testing.assert_allclose(errors[seen], 0, atol=1e-6)
    assert np.all(np.isnan(points[7])) and np.isnan(errors[7])


def test_gauss_newton_refinement_lowers_the_reprojection_error_of_noisy_points():
    cameras = four_cameras(radial=np.array([-0.2, 0.05, 0.0]), tangential=np.zeros(2))
    noise = np.random.default_rng(1).normal(0, 2.0, size=(4, 17, 2))
    points_2d = np.stack([camera.project(POINTS) for camera in cameras]) + noise
    confidence = np.random.default_rng(2).uniform(0.6, 1.0, size=(4, 17))
    dlt, _ = triangulate(points_2d, confidence, cameras)
    refined, _ = triangulate(points_2d, confidence, cameras, refine_iterations=3)

    def weighted_squared_error(points):
        residuals = np.stack([camera.project(points) for camera in cameras]) - points_2d
        return np.sum(confidence * np.sum(residuals ** 2, axis=-1), axis=0)
    assert np.all(weighted_squared_error(refined) <= weighted_squared_error(dlt) + 1e-9)
    assert np.mean(np.linalg.norm(refined - POINTS, axis=-1)) < 0.01  # 2 px of noise, 3 m away


def test_triangulation_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r'expected points_2d \(V, J, 2\)'):
        triangulate(np.zeros((4, 17, 2)), np.zeros((3, 17)), four_cameras())


def test_read_video_frames_keeps_every_step_th_frame_in_rgb(tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (32, 24))
    for index in range(7):
        writer.write(np.full((24, 32, 3), (0, 0, 30 * index), np.uint8))  # BGR: red grows
    writer.release()
    frames = read_video_frames(path, step=2, limit=3)
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(frames[..., 0].mean(axis=(1, 2)), [0, 60, 120], atol=4)
    assert frames[..., 1:].max() < 8
    assert len(read_video_frames(path)) == 7
    with pytest.raises(FileNotFoundError, match='absent.mp4'):
        read_video_frames(tmp_path / 'absent.mp4')
    (tmp_path / 'empty.mp4').write_bytes(b'')
    with pytest.raises(ValueError, match=r'empty\.mp4: no frame could be decoded'):
        read_video_frames(tmp_path / 'empty.mp4')


def fake_wheel():
    """A wheel-shaped zip holding the demo files (and a file fetch_demo must leave behind)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as wheel:
        for name in pose2sim.DEMO_FILES:
            wheel.writestr(pose2sim.WHEEL_FOLDER + name, f'content of {name}')
        board_image = 'Demo_SinglePerson/calibration/intrinsics/int_cam01_img/cam01_01_int.jpg'
        wheel.writestr(pose2sim.WHEEL_FOLDER + board_image, 'big')
    return buffer.getvalue()


def test_fetch_demo_extracts_the_demo_files_once(tmp_path, monkeypatch):
    downloads = []
    monkeypatch.setattr(pose2sim, 'download', lambda archive, log: downloads.append(archive) or fake_wheel())
    folder = pose2sim.fetch_demo(tmp_path, log=lambda message: None)
    assert folder == tmp_path / 'pose2sim' and downloads == [pose2sim.POSE2SIM_WHEEL]
    extracted = sorted(str(path.relative_to(folder)) for path in folder.rglob('*') if path.is_file())
    assert extracted == sorted(pose2sim.DEMO_FILES)
    assert (folder / 'Demo_SinglePerson/videos/cam03.mp4').read_text() == \
        'content of Demo_SinglePerson/videos/cam03.mp4'
    assert [path.name for path in tmp_path.iterdir()] == ['pose2sim']  # no staging folder left

    assert pose2sim.fetch_demo(tmp_path, log=lambda message: None) == folder
    assert len(downloads) == 1
    (folder / 'Demo_MultiPerson/videos/cam02.mp4').unlink()  # an incomplete folder is fetched again
    pose2sim.fetch_demo(tmp_path, log=lambda message: None)
    assert len(downloads) == 2 and (folder / 'Demo_MultiPerson/videos/cam02.mp4').is_file()
