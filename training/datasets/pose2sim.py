"""Pose2Sim's demo captures: real people filmed by four calibrated cameras, a 3D reference.

The PyPI wheel of Pose2Sim (BSD-3-Clause) ships `Demo_SinglePerson/` (one person) and
`Demo_MultiPerson/` (several): per demo four 60 fps portrait videos (videos/cam01..04.mp4, 100
frames) and a Qualisys calibration (calibration/Calib.qca.txt). The calibration gives every camera
a 1088 x 1920 image, but Demo_SinglePerson's cam01 and cam02 videos are 1080 wide: read them with
the principal point as it is (cropped on the right), which reprojects better than a crop on the
left or both sides.
`fetch_demo` downloads the pinned wheel once, checks its sha256 and extracts only those files
into `<cache_dir>/pose2sim/`; nothing of it is committed. `load_qca_calibration` reads the
cameras, `read_video_frames` the videos, and `triangulate` turns 2D joints seen by several cameras
into 3D points in the capture's world frame (metres, z up).

Cameras follow OpenCV's conventions, the ones Pose2Sim converts Qualisys files to: a world point
X is X_cam = R @ X + t in the optical frame (x right, y down, z forward), projected through a
pinhole with OpenCV's lens model (k1, k2, k3 radial; p1, p2 tangential). The radial/tangential
coefficients are named and ordered as in pose3d_ros.camera, but that module's `distort` is
Human3.6M's variant, whose tangential terms differ from OpenCV's: project these cameras with
`CalibratedCamera.project`, not with pose3d_ros.camera.project.
"""
import io
import os
import shutil
import tempfile
import zipfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pose3d_ros.models.blazepose_release import Archive, download
from pose3d_ros.paths import DEFAULT_CACHE_DIR

POSE2SIM_WHEEL = Archive(
    'PyPI pose2sim==0.10.49 (py3-none-any wheel)',
    'https://files.pythonhosted.org/packages/ca/dc/28c3bfe0523a6daab7768c0a1b88b961463a08d111ef57784ecc6441d36b/'
    'pose2sim-0.10.49-py3-none-any.whl',
    '403e0dc4065898ba6a595e72a8970950310979253d60e24c2e00b16b36bf21e1')
WHEEL_FOLDER = 'Pose2Sim/'  # the demos' folder inside the wheel
SUBFOLDER = 'pose2sim'      # ... and inside the cache
DEMOS = ('Demo_SinglePerson', 'Demo_MultiPerson')
CAMERA_NAMES = ('cam01', 'cam02', 'cam03', 'cam04')  # video file stems = calibration serials
VIDEO_HZ = 60.0  # the demos' frame rate
CALIBRATION_FILE = 'calibration/Calib.qca.txt'
DEMO_FILES = tuple(f'{demo}/{name}' for demo in DEMOS for name in
                   (CALIBRATION_FILE, *(f'videos/{camera}.mp4' for camera in CAMERA_NAMES)))

# Qualisys stores focal lengths and principal points in sensor units of 1/64 pixel. The lens
# coefficients are plain numbers of the normalized-coordinate model: Pose2Sim 0.10.49 divides them
# by 64 too, which leaves the demo cameras < 0.2 px of distortion instead of up to 9 px in the
# corners, but the demo's own checkerboard images disagree: read as they are, the coefficients
# straighten the boards better in all four cameras (homography residual 0.21-0.83 px against
# 0.26-0.88 px), and k1, k2 fitted to the boards come out near them (k1 -0.03 to -0.07).
SENSOR_UNITS_PER_PIXEL = 64.0
# Qualisys cameras look along their -z axis with y up; the optical frame has y down, z forward.
QUALISYS_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])
# Calibrated cameras that film video; the others (marker cameras) have no images to read.
VIDEO_CAMERA_MODELS = ('video', 'hybrid', 'none')  # 'none': files written by converters
# cv2.undistortPoints stops after 5 iterations by default, too few for strong distortion.
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
MIN_VIEWS = 2


@dataclass(frozen=True)
class CalibratedCamera:
    name: str
    image_size: tuple       # (width, height), pixels
    focal: np.ndarray       # (2,) fx, fy, pixels
    center: np.ndarray      # (2,) cx, cy, pixels
    radial: np.ndarray      # (3,) k1, k2, k3
    tangential: np.ndarray  # (2,) p1, p2 (OpenCV's model)
    R: np.ndarray           # (3, 3) world -> camera rotation
    t: np.ndarray           # (3,) world -> camera translation, metres

    @property
    def matrix(self):
        return np.array([[self.focal[0], 0, self.center[0]], [0, self.focal[1], self.center[1]], [0, 0, 1]])

    @property
    def distortion(self):
        """OpenCV's coefficient vector (k1, k2, p1, p2, k3)."""
        return np.array([*self.radial[:2], *self.tangential, self.radial[2]])

    @property
    def position(self):
        """The camera centre in world coordinates, metres."""
        return -self.R.T @ self.t

    def world_to_camera(self, points):
        return np.asarray(points, np.float64) @ self.R.T + self.t

    def project(self, points):
        """(..., 3) world points -> (..., 2) pixels in the (distorted) image; NaN stays NaN."""
        points = np.asarray(points, np.float64)
        pixels, _ = cv2.projectPoints(self.world_to_camera(points).reshape(-1, 3), np.zeros(3), np.zeros(3),
                                      self.matrix, self.distortion)
        return pixels.reshape(*points.shape[:-1], 2)

    def pixels_to_normalized(self, pixels):
        """(..., 2) image pixels -> (..., 2) undistorted normalized coordinates (x/z, y/z)."""
        pixels = np.asarray(pixels, np.float64)
        points = pixels.reshape(-1, 1, 2)
        if hasattr(cv2, 'undistortPointsIter'):  # OpenCV 4 (the ROS distributions' python3-opencv)
            normalized = cv2.undistortPointsIter(points, self.matrix, self.distortion, None, None,
                                                 UNDISTORT_CRITERIA)
        else:
            normalized = cv2.undistortPoints(points, self.matrix, self.distortion, criteria=UNDISTORT_CRITERIA)
        return normalized.reshape(pixels.shape)


def demo_dir(cache_dir=DEFAULT_CACHE_DIR):
    return Path(cache_dir).expanduser() / SUBFOLDER


def fetch_demo(cache_dir=DEFAULT_CACHE_DIR, log=print):
    """Make sure `<cache_dir>/pose2sim/` holds the demos' videos and calibrations -> that folder.

    Downloads the pinned wheel (51 MB) only when a file is missing, refuses it unless its sha256
    matches, and extracts into a hidden folder beside the target that is renamed into place, so
    the target never holds a partial extraction."""
    folder = demo_dir(cache_dir)
    if all((folder / name).is_file() for name in DEMO_FILES):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    wheel_bytes = download(POSE2SIM_WHEEL, log)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f'.{SUBFOLDER}.') as temporary:
        staging = Path(temporary) / SUBFOLDER
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
            for name in DEMO_FILES:
                try:
                    data = wheel.read(WHEEL_FOLDER + name)
                except KeyError:
                    raise RuntimeError(f'{POSE2SIM_WHEEL.url} has no {WHEEL_FOLDER + name}') from None
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
        if folder.exists():  # incomplete: a file was deleted since
            shutil.rmtree(folder)
        os.rename(staging, folder)
    log(f'wrote {folder}')
    return folder


def _number(element, attribute, where):
    text = element.get(attribute)
    if text is None:
        raise ValueError(f'{where}: <{element.tag}> has no attribute {attribute!r}')
    try:
        value = float(text)
    except ValueError:
        value = np.nan
    if not np.isfinite(value):
        raise ValueError(f'{where}: <{element.tag} {attribute}="{text}"> is not a finite number')
    return value


def _child(camera, tag, where):
    element = camera.find(tag)
    if element is None:
        raise ValueError(f'{where}: no <{tag}> element')
    return element


def _read_camera(camera, where):
    if camera.get('viewrotation', '0') != '0':
        raise ValueError(f'{where}: viewrotation="{camera.get("viewrotation")}" is not supported '
                         '(only unrotated video, viewrotation="0")')
    fov = _child(camera, 'fov_video', where)
    left, top, right, bottom = (_number(fov, side, where) for side in ('left', 'top', 'right', 'bottom'))
    if right < left or bottom < top:
        raise ValueError(f'{where}: <fov_video> is empty '
                         f'(left {left}, top {top}, right {right}, bottom {bottom})')

    intrinsic = _child(camera, 'intrinsic', where)
    pixels = {name: _number(intrinsic, name, where) / SENSOR_UNITS_PER_PIXEL
              for name in ('focalLengthU', 'focalLengthV', 'centerPointU', 'centerPointV')}
    radial = [_number(intrinsic, f'radialDistortion{k}', where) for k in (1, 2, 3)]
    tangential = [_number(intrinsic, f'tangentalDistortion{k}', where) for k in (1, 2)]  # sic
    if intrinsic.get('skew') is not None and _number(intrinsic, 'skew', where) != 0:
        raise ValueError(f'{where}: <intrinsic skew="{intrinsic.get("skew")}"> is not supported (only 0)')
    if pixels['focalLengthU'] <= 0 or pixels['focalLengthV'] <= 0:
        raise ValueError(f'{where}: <intrinsic> focal lengths must be positive')

    transform = _child(camera, 'transform', where)
    # r_ij: rows are the Qualisys camera's axes in world coordinates; x, y, z its centre in mm.
    rotation = np.array([[_number(transform, f'r{row}{column}', where) for column in (1, 2, 3)]
                         for row in (1, 2, 3)])
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) or np.linalg.det(rotation) < 0:
        raise ValueError(f'{where}: <transform> r11..r33 is not a rotation matrix')
    centre = np.array([_number(transform, axis, where) for axis in 'xyz']) / 1000.0
    R = QUALISYS_TO_OPTICAL @ rotation

    return CalibratedCamera(
        name=camera.get('serial'),
        image_size=(int(right - left + 1), int(bottom - top + 1)),
        focal=np.array([pixels['focalLengthU'], pixels['focalLengthV']]),
        # The video is the sensor window fov_video: its first pixel is the sensor's (left, top).
        center=np.array([pixels['centerPointU'] - left, pixels['centerPointV'] - top]),
        radial=np.array(radial), tangential=np.array(tangential),
        R=R, t=-R @ centre)


def load_qca_calibration(path):
    """The video cameras of a Qualisys .qca.txt calibration -> {serial: CalibratedCamera}.

    Raises FileNotFoundError, or ValueError naming the file, the camera and the field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'calibration file not found: {path}')
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f'{path}: not valid XML ({error})') from None
    cameras = {}
    for index, camera in enumerate(root.findall('cameras/camera')):
        serial = camera.get('serial')
        where = f'{path}: camera {index} (serial {serial!r})'
        if not serial:
            raise ValueError(f'{where}: no serial attribute')
        if not any(model in camera.get('model', '').lower() for model in VIDEO_CAMERA_MODELS):
            continue
        if serial in cameras:
            raise ValueError(f'{where}: serial used by another camera')
        cameras[serial] = _read_camera(camera, where)
    if not cameras:
        raise ValueError(f'{path}: no video camera under <cameras>')
    return cameras


def read_video_frames(path, step=1, limit=None):
    """Every `step`-th frame of a video, at most `limit` of them -> (N, H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'video not found: {path}')
    if step < 1:
        raise ValueError(f'step must be at least 1, got {step}')
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        index = 0
        while limit is None or len(frames) < limit:
            if index % step:
                if not capture.grab():
                    break
            else:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ValueError(f'{path}: no frame could be decoded')
    return np.stack(frames)


def triangulate(points_2d, confidence, cameras, min_confidence=0.5, refine_iterations=0):
    """2D joints seen by V cameras -> (J, 3) world points (metres) and (J,) reprojection errors.

    points_2d: (V, J, 2) pixels in each camera's image; confidence: (V, J), NaN read as 0;
    cameras: V CalibratedCamera. A view counts for a joint when its confidence reaches
    min_confidence and its point is finite. Each joint is the confidence-weighted DLT solution on
    undistorted normalized coordinates, then, if refine_iterations > 0, that many Gauss-Newton
    steps on the confidence-weighted squared reprojection error in pixels. The error of a joint is
    the mean pixel distance between its projection and its observations in the views that count.
    Joints seen in fewer than 2 views are NaN, and so is their error."""
    points_2d = np.asarray(points_2d, np.float64)
    confidence = np.nan_to_num(np.asarray(confidence, np.float64), nan=0.0)
    if points_2d.ndim != 3 or points_2d.shape[-1] != 2 or confidence.shape != points_2d.shape[:2] \
            or len(cameras) != len(points_2d):
        raise ValueError(f'expected points_2d (V, J, 2), confidence (V, J) and V cameras; got '
                         f'{points_2d.shape}, {confidence.shape} and {len(cameras)} cameras')
    counts = (confidence >= min_confidence) & np.all(np.isfinite(points_2d), axis=-1)
    weights = np.where(counts, confidence, 0.0)
    usable = counts.sum(axis=0) >= MIN_VIEWS
    points_2d = np.where(counts[..., None], points_2d, 0.0)

    normalized = np.stack([camera.pixels_to_normalized(view) for camera, view in zip(cameras, points_2d)])
    projections = np.stack([np.hstack([camera.R, camera.t[:, None]]) for camera in cameras])  # (V, 3, 4)
    # Each view gives two rows x P3 - P1 and y P3 - P2 of the homogeneous system A X = 0.
    rows = normalized[..., None] * projections[:, None, 2:3] - projections[:, None, :2]  # (V, J, 2, 4)
    system = (weights[..., None, None] * rows).transpose(1, 0, 2, 3).reshape(points_2d.shape[1], -1, 4)
    homogeneous = np.linalg.svd(system[usable])[2][:, -1]
    points = np.full((points_2d.shape[1], 3), np.nan)
    points[usable] = homogeneous[:, :3] / homogeneous[:, 3:]

    for _ in range(refine_iterations):
        points[usable] += _gauss_newton_step(points[usable], points_2d[:, usable], weights[:, usable],
                                             cameras)

    residuals = np.stack([camera.project(points) for camera in cameras]) - points_2d
    distances = np.where(counts, np.linalg.norm(residuals, axis=-1), np.nan)
    errors = np.full(points_2d.shape[1], np.nan)
    errors[usable] = np.nanmean(distances[:, usable], axis=0)
    return points, errors


def _gauss_newton_step(points, points_2d, weights, cameras, step=1e-5):
    """The Gauss-Newton update of (J, 3) points for sum_v w_v |project_v(X) - u_v|^2, with the
    Jacobian from central differences (step in metres)."""
    offsets = step * np.eye(3)
    residuals = np.stack([camera.project(points) for camera in cameras]) - points_2d  # (V, J, 2)
    jacobian = np.stack([
        np.stack([camera.project(points + offset) - camera.project(points - offset) for camera in cameras])
        for offset in offsets], axis=-1) / (2 * step)  # (V, J, 2, 3)
    weighted = weights[..., None, None] * jacobian
    normal = np.einsum('vjai,vjak->jik', weighted, jacobian)
    gradient = np.einsum('vjai,vja->ji', weighted, residuals)
    return -np.einsum('jik,jk->ji', np.linalg.pinv(normal), gradient)
