"""One sample of each custom message, built through pose3d_ros.messages, for the DDS tests."""
import numpy as np
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from pose3d_ros import messages
from pose3d_ros.skeleton import DETECTED_JOINTS, NUM_JOINTS

HEADER = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id='camera_optical_frame')
_RNG = np.random.default_rng(7)
PIXELS = _RNG.uniform(0, 640, size=(16, 2))
PROBABILITIES = _RNG.uniform(0, 1, size=(16, 16))
POSITIONS_M = _RNG.normal(0, 0.4, size=(NUM_JOINTS, 3))


def build(type_name):
    if type_name == 'Keypoints2D':
        return messages.keypoints_msg(
            HEADER, DETECTED_JOINTS, PIXELS, np.linspace(0, 1, 16), (10.5, -4.0, 300.0, 300.0))
    if type_name == 'DepthRanking':
        return messages.ranking_msg(HEADER, DETECTED_JOINTS, PROBABILITIES, tie_band=0.1)
    if type_name == 'Skeleton3D':
        return messages.skeleton_msg(
            HEADER, np.arange(NUM_JOINTS), POSITIONS_M, np.full(NUM_JOINTS, 0.9),
            model='dpnet:test', root_position_m=(0.1, 0.2, 3.5))
    raise ValueError(f'unknown message type {type_name}')
