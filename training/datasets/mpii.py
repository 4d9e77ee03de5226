"""MPII annotations in the common JSON form (a list of records: image, center, scale, joints,
joints_vis), as 2D pose code bases ship them; joints come out in DETECTED_JOINTS order."""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.images import read_rgb
from pose3d_ros.skeleton import DETECTED_JOINTS, MPII_TO_CANONICAL

# Position of each MPII joint in DETECTED_JOINTS order.
_MPII_TO_DETECTED = np.searchsorted(DETECTED_JOINTS, MPII_TO_CANONICAL)
PERSON_BOX_PIXELS = 200.0  # MPII's scale is the person's height in units of 200 pixels


@dataclass
class MPIIPerson:
    image_path: Path
    center: np.ndarray      # (2,) pixels
    scale: float            # person height / 200 px
    joints_2d: np.ndarray   # (16, 2) pixels, DETECTED_JOINTS order
    visible: np.ndarray     # (16,) bool (annotated as visible)

    def read_image(self):
        """RGB uint8."""
        return read_rgb(self.image_path)


def load_mpii(path):
    """Records of an MPII JSON file -> list of MPIIPerson; images are looked up beside the file."""
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f'{path}: cannot read MPII annotations ({error})') from None
    if not isinstance(records, list):
        raise ValueError(f'{path}: expected a list of records, got {type(records).__name__}')
    people = []
    for index, record in enumerate(records):
        try:
            joints = np.asarray(record['joints'], np.float64)
            visible = np.asarray(record['joints_vis'], bool)
            center = np.asarray(record['center'], np.float64)
            scale = float(record['scale'])
            image = record['image']
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f'{path}: record {index}: missing or malformed field ({error!r})') from None
        if joints.shape != (16, 2) or visible.shape != (16,) or center.shape != (2,):
            raise ValueError(f'{path}: record {index}: expected 16 joints with visibility and a 2D '
                             f'center, got joints {joints.shape}, joints_vis {visible.shape}')
        ordered_joints, ordered_visible = np.empty_like(joints), np.empty_like(visible)
        ordered_joints[_MPII_TO_DETECTED], ordered_visible[_MPII_TO_DETECTED] = joints, visible
        people.append(MPIIPerson(path.parent / image, center, scale, ordered_joints, ordered_visible))
    return people
