"""Camera geometry shared by the nodes and training.

Convention (Human3.6M, 3d-pose-baseline): a camera has a rotation R and a centre T in world
coordinates (millimetres, z up); a world point X is X_cam = R @ (X - T) in the optical frame
(x right, y down, z forward). Rows of R are the camera's axes in world coordinates.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
