"""Human3.6M in the 3d-pose-baseline layout: 3D poses, cameras and stacked-hourglass detections.

    cameras.h5
    S<n>/MyPoses/3D_positions/<Sequence>.h5          "3D_positions" (96, T): 32 joints, world, mm
    S<n>/StackedHourglass/<Sequence>.<camera id>.h5  "poses" (T, 16, 2): MPII order, pixels
(<Sequence> is e.g. "Directions 1"; the detection files write its space as "_".)

Only what is asked for is read: the requested subjects, cameras and actions. A missing piece is
skipped with a warning naming the file; frames stay aligned between poses and detections.
"""
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.camera import H36M_CAMERA_IDS, load_cameras
from pose3d_ros.skeleton import H36M32_TO_CANONICAL, mpii_to_canonical_order

# The 15 actions, spelled as in the file names.
ACTIONS = ('Directions', 'Discussion', 'Eating', 'Greeting', 'Phoning', 'Photo', 'Posing',
           'Purchases', 'Sitting', 'SittingDown', 'Smoking', 'Waiting', 'WalkDog', 'Walking',
           'WalkTogether')
TRAIN_SUBJECTS = (1, 5, 6, 7, 8)
# ../shared/data/h36m beside the checkout, where the project's data lives.
DEFAULT_ROOT = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'h36m'
TEST_SUBJECTS = (9, 11)


@dataclass
class Sequence:
    """One recording seen by one camera; arrays are frame-aligned, canonical joint order."""
    subject: int
    action: str                 # one of ACTIONS
    name: str                   # the recording, e.g. 'Directions 1'
    camera_index: int           # 1..4
    camera: object              # pose3d_ros.camera.Camera
    poses_world: np.ndarray     # (T, 17, 3) mm
    poses_camera: np.ndarray    # (T, 17, 3) mm, optical frame
    joints_2d: np.ndarray       # (T, 17, 2) ground truth projected with distortion, pixels
    detections: np.ndarray      # (T, 16, 2) hourglass, DETECTED_JOINTS order; None if not read

    @property
    def num_frames(self):
        return len(self.poses_world)


def action_of(sequence_name):
    """'Directions 1' -> 'Directions'."""
    return re.sub(r'[ _]\d+$', '', sequence_name)


def _read(path, dataset):
    import h5py
    with h5py.File(path, 'r') as file:
        if dataset not in file:
            raise ValueError(f'{path}: no dataset {dataset!r} (found {list(file)})')
        return np.asarray(file[dataset][()], dtype=np.float64)


def read_poses_world(path):
    """(T, 17, 3) world poses in mm from a 3D_positions file."""
    raw = _read(path, '3D_positions')
    if raw.ndim != 2 or raw.shape[0] != 96:
        raise ValueError(f'{path}: 3D_positions has shape {raw.shape}, expected (96, T)')
    return raw.T.reshape(-1, 32, 3)[:, H36M32_TO_CANONICAL]


def read_detections(path):
    """(T, 16, 2) hourglass detections, reordered from MPII to DETECTED_JOINTS order."""
    raw = _read(path, 'poses')
    if raw.ndim != 3 or raw.shape[1:] != (16, 2):
        raise ValueError(f'{path}: poses has shape {raw.shape}, expected (T, 16, 2)')
    return mpii_to_canonical_order(raw)


def sequence_names(root, subject):
    """Recordings of a subject: those with 3D poses, and those known only from detections
    (reported missing by load_h36m)."""
    subject_dir = Path(root) / f'S{subject}'
    names = {path.stem for path in (subject_dir / 'MyPoses' / '3D_positions').glob('*.h5')}
    for path in (subject_dir / 'StackedHourglass').glob('*.h5'):
        names.add(path.name.split('.')[0].replace('_', ' '))
    return sorted(names)


def load_h36m(root, subjects, cameras=(1, 2, 3, 4), actions=None, detections=True):
    """Load the requested part of Human3.6M as a list of Sequence, one per recording and camera.

    root: the dataset folder; subjects: e.g. (9, 11); cameras: indices 1..4; actions: names
    from ACTIONS (None: all); detections: also read the hourglass 2D detections.
    """
    root = Path(root)
    unknown = set(actions or ()) - set(ACTIONS)
    if unknown:
        raise ValueError(f'unknown actions {sorted(unknown)}; expected names from {ACTIONS}')
    bad_cameras = set(cameras) - set(H36M_CAMERA_IDS)
    if bad_cameras:
        raise ValueError(f'camera indices must be in 1..4, got {sorted(bad_cameras)}')
    all_cameras = load_cameras(root / 'cameras.h5')

    sequences = []
    for subject in subjects:
        if not (root / f'S{subject}').is_dir():
            warnings.warn(f'Human3.6M subject S{subject} not found: {root / f"S{subject}"}; skipped')
            continue
        for name in sequence_names(root, subject):
            action = action_of(name)
            if actions is not None and action not in actions:
                continue
            pose_path = root / f'S{subject}' / 'MyPoses' / '3D_positions' / f'{name}.h5'
            if not pose_path.is_file():
                warnings.warn(f'3D poses missing: {pose_path}; S{subject} {name!r} skipped')
                continue
            poses_world = read_poses_world(pose_path)
            for camera_index in cameras:
                camera = all_cameras.get((subject, camera_index))
                if camera is None:
                    warnings.warn(f'{root / "cameras.h5"} has no subject{subject}/camera'
                                  f'{camera_index}; S{subject} {name!r} skipped for it')
                    continue
                detected = None
                if detections:
                    detection_path = (root / f'S{subject}' / 'StackedHourglass' /
                                      f'{name.replace(" ", "_")}.{H36M_CAMERA_IDS[camera_index]}.h5')
                    if not detection_path.is_file():
                        warnings.warn(f'detections missing: {detection_path}; S{subject} '
                                      f'{name!r} camera {camera_index} skipped')
                        continue
                    detected = read_detections(detection_path)
                    if len(detected) != len(poses_world):
                        raise ValueError(
                            f'{detection_path}: {len(detected)} frames but {pose_path} has '
                            f'{len(poses_world)}')
                poses_camera = camera.world_to_camera(poses_world)
                sequences.append(Sequence(
                    subject=subject, action=action, name=name, camera_index=camera_index,
                    camera=camera, poses_world=poses_world, poses_camera=poses_camera,
                    joints_2d=camera.project(poses_camera), detections=detected))
    return sequences
