"""Camera geometry shared by the nodes and training.

Convention (Human3.6M, 3d-pose-baseline): a camera has a rotation R and a centre T in world
coordinates (millimetres, z up); a world point X is X_cam = R @ (X - T) in the optical frame
(x right, y down, z forward). Rows of R are the camera's axes in world coordinates.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.root import world_floor_plane

DEFAULT_FIELD_OF_VIEW_DEG = 60.0  # of images without a calibration (pose3d_infer, INT8 calibration)
# Human3.6M camera ids by camera index 1..4.
H36M_CAMERA_IDS = {1: '54138969', 2: '55011271', 3: '58860488', 4: '60457274'}


@dataclass(frozen=True)
class Camera:
    R: np.ndarray           # (3, 3) world -> camera rotation
    T: np.ndarray           # (3,) centre in world coordinates, mm
    focal: np.ndarray       # (2,) fx, fy, pixels
    center: np.ndarray      # (2,) cx, cy, pixels
    radial: np.ndarray      # (3,) k1, k2, k3
    tangential: np.ndarray  # (2,) p1, p2
    name: str = ''

    def world_to_camera(self, points):
        return world_to_camera(points, self.R, self.T)

    def project(self, points_camera):
        return project(points_camera, self.focal, self.center, self.radial, self.tangential)

    def floor_plane(self):
        """Human3.6M's floor (world z = 0, z up) in this camera's optical frame (pose3d_ros.root)."""
        return world_floor_plane(self.R, self.T[2] / 1000.0)


def load_cameras(path):
    """Cameras of a Human3.6M cameras.h5: {(subject, camera_index): Camera}.

    Layout: subject<N>/camera<M>/{R, T, f, c, k, p, Name}, with R stored transposed and Name as
    character codes. Raises FileNotFoundError / ValueError naming the file and the field.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'camera file not found: {path}')
    cameras = {}
    with h5py.File(path, 'r') as file:
        for subject_key in file:
            if not subject_key.startswith('subject'):
                continue  # e.g. '3dtest'
            for camera_key in file[subject_key]:
                group = file[subject_key][camera_key]

                def field(name, shape, group=group, where=f'{subject_key}/{camera_key}'):
                    if name not in group:
                        raise ValueError(f'{path}: {where} has no field {name!r}')
                    values = np.asarray(group[name][()], dtype=np.float64)
                    if shape is not None and values.size != np.prod(shape):
                        raise ValueError(f'{path}: {where}/{name} has shape {values.shape}, '
                                         f'expected {np.prod(shape)} values')
                    return values.reshape(shape if shape is not None else -1)

                name = ''.join(chr(int(code)) for code in field('Name', None))
                key = (int(subject_key[len('subject'):]), int(camera_key[len('camera'):]))
                cameras[key] = Camera(
                    R=field('R', (3, 3)).T, T=field('T', (3,)), focal=field('f', (2,)),
                    center=field('c', (2,)), radial=field('k', (3,)),
                    tangential=field('p', (2,)), name=name)
    return cameras


def world_to_camera(points, R, T):
    """(..., 3) world points -> camera coordinates: R @ (X - T)."""
    return (np.asarray(points, dtype=np.float64) - T) @ np.asarray(R).T


def camera_to_world(points, R, T):
    """(..., 3) camera coordinates -> world points: R^T @ X_cam + T."""
    return np.asarray(points, dtype=np.float64) @ np.asarray(R) + T


def distort(normalized, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0)):
    """Apply Human3.6M's lens model to (..., 2) normalized coordinates (x/z, y/z).

    The model of 3d-pose-baseline's project_point_radial (which the stored detections match):
    x' = x (1 + k1 r^2 + k2 r^4 + k3 r^6 + p1 y + p2 x) + p2 r^2, y' likewise with p1 r^2.
    """
    normalized = np.asarray(normalized, dtype=np.float64)
    r2 = np.sum(normalized ** 2, axis=-1, keepdims=True)
    k1, k2, k3 = radial
    p1, p2 = tangential
    scale = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    scale = scale + p1 * normalized[..., 1:2] + p2 * normalized[..., 0:1]
    return normalized * scale + r2 * np.array([p2, p1])


def undistort(distorted, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0), iterations=20):
    """Invert distort() by fixed-point iteration (converges for Human3.6M's mild distortion)."""
    distorted = np.asarray(distorted, dtype=np.float64)
    if not (np.any(radial) or np.any(tangential)):  # a pinhole: nothing to invert
        return distorted
    normalized = distorted.copy()
    for _ in range(iterations):
        normalized = normalized + (distorted - distort(normalized, radial, tangential))
    return normalized


def project(points, focal, center, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0)):
    """Project (..., 3) camera-frame points (z forward) to (..., 2) pixels."""
    points = np.asarray(points, dtype=np.float64)
    normalized = points[..., :2] / points[..., 2:3]
    return distort(normalized, radial, tangential) * np.asarray(focal) + np.asarray(center)


# Focal lengths a camera can have, in multiples of its image width: 0.05 is a field of view of
# 169 degrees (a pinhole model cannot go much wider), 100 one of 0.6 degrees (a long telephoto).
FOCAL_PER_WIDTH = (0.05, 100.0)
# How far outside the image the principal point may lie, in image sizes (lens shift, crops).
CENTER_MARGIN = 0.5


def check_camera_info(msg):
    """A sensor_msgs/CameraInfo whose intrinsics are sane, returned; ValueError naming the field
    and the value otherwise (a focal length of 1e-300 would make every pose that uses it fail).

    K: 9 finite values forming a camera matrix (k[3] = 0, bottom row 0, 0, 1), fx and fy within
    FOCAL_PER_WIDTH times the image width, the principal point within the image or at most
    CENTER_MARGIN of its size outside. D: finite. A CameraInfo without a size (width or height 0:
    not given) is judged against the image centred on its principal point, which must be positive.
    """
    k = np.asarray(msg.k, dtype=np.float64)
    if k.size != 9 or not np.all(np.isfinite(k)):
        raise ValueError(f'CameraInfo.k must hold 9 finite values, got {k.tolist()}')
    if k[3] != 0 or tuple(k[6:]) != (0, 0, 1):
        raise ValueError(f'CameraInfo.k {k.tolist()} is not a camera matrix: k[3], k[6], k[7], k[8] must be '
                         '0, 0, 0, 1')
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    width, height = msg.width, msg.height
    if not (width and height):
        if not (cx > 0 and cy > 0):
            raise ValueError(f'CameraInfo has no size (width {width}, height {height}) and its principal point '
                             f'cx={cx:g}, cy={cy:g} is not positive')
        width, height = 2 * cx, 2 * cy
    low, high = (factor * width for factor in FOCAL_PER_WIDTH)
    if not (low <= fx <= high and low <= fy <= high):
        raise ValueError(f'CameraInfo.k has focal length fx={fx:g}, fy={fy:g}; both must lie in [{low:g}, {high:g}] '
                         f'px ({FOCAL_PER_WIDTH[0]:g} to {FOCAL_PER_WIDTH[1]:g} times the image width {width:g})')
    margin_x, margin_y = CENTER_MARGIN * width, CENTER_MARGIN * height
    if not (-margin_x <= cx <= width + margin_x and -margin_y <= cy <= height + margin_y):
        raise ValueError(f'CameraInfo.k has principal point cx={cx:g}, cy={cy:g}, more than {CENTER_MARGIN:g} '
                         f'image sizes outside the {width:g}x{height:g} image')
    d = np.asarray(msg.d, dtype=np.float64)
    if not np.all(np.isfinite(d)):
        raise ValueError(f'CameraInfo.d contains NaN or infinite values: {d.tolist()}')
    return msg


def default_intrinsics(width, height):
    """The documented default pinhole for a width x height image (no calibration given): a
    DEFAULT_FIELD_OF_VIEW_DEG horizontal field of view, the principal point at the centre."""
    focal = width / (2 * np.tan(np.radians(DEFAULT_FIELD_OF_VIEW_DEG) / 2))
    return {'focal': (focal, focal), 'center': ((width - 1) / 2, (height - 1) / 2)}


def pixels_to_normalized(pixels, focal, center, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0)):
    """(..., 2) pixels -> undistorted normalized coordinates (x/z, y/z)."""
    distorted = (np.asarray(pixels, dtype=np.float64) - center) / np.asarray(focal)
    return undistort(distorted, radial, tangential)


def back_project(normalized, depth):
    """(..., 2) normalized coordinates and (...) depths along z -> (..., 3) camera-frame points."""
    depth = np.asarray(depth, dtype=np.float64)[..., None]
    return np.concatenate([np.asarray(normalized) * depth, depth], axis=-1)
