"""What every front end (pose3d_ros.inference.blazepose, .drpose3d) gives for each person."""
from dataclasses import dataclass

import numpy as np


@dataclass
class Person2D:
    """One person in one image; joints in DETECTED_JOINTS order, pixels of the whole image."""
    id: int                    # stable across frames while the person is tracked
    score: float               # probability that this is a person
    box: np.ndarray            # (4,) x_min, y_min, x_max, y_max of the person
    joints_2d: np.ndarray      # (16, 2)
    confidence: np.ndarray     # (16,) per joint, in [0, 1]
    crop_box: np.ndarray       # (4,) x_min, y_min, width, height of the square the network saw
    probabilities: np.ndarray  # (16, 16) P_ij, joint i behind joint j
    ranking: np.ndarray        # (16, 16) discretized: 1 behind, 0 in front, 0.5 tie
    landmarks: object = None   # the front end's own result (BlazePose: blazepose.Landmarks)
    depths_mm: np.ndarray = None  # (16,) relative depths where the front end measures them (BlazePose)


def check_image(image):
    """The image every front end takes: (H, W, 3) uint8 RGB; ValueError otherwise."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}')
    return image


def network_image(crop):
    """(S, S, 3) uint8 RGB crop -> (1, 3, S, S) float32 in [0, 1], as every network takes it."""
    return (crop.transpose(2, 0, 1)[None] * np.float32(1 / 255)).astype(np.float32)
