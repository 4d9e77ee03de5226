"""Samples of each custom message, built through pose3d_ros.messages, for the DDS tests: one person
per person message (id 7), two people per array message (ids 2 and 5)."""
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
PERSON_ID = 7
ARRAY_IDS = (2, 5)
ARRAY_OFFSET_PX = 100.0  # person k of an array is PIXELS shifted right by k times this
TYPES = ('Keypoints2D', 'DepthRanking', 'Skeleton3D', 'Keypoints2DArray', 'DepthRankingArray', 'Skeleton3DArray')


def person(type_name, person_id=PERSON_ID, shift=0.0):
    if type_name == 'Keypoints2D':
        pixels = PIXELS + (shift, 0.0)
        return messages.keypoints_msg(HEADER, person_id, 0.875, np.concatenate([pixels.min(0), pixels.max(0)]),
                                      DETECTED_JOINTS, pixels, np.linspace(0, 1, 16), (10.5, -4.0, 300.0, 300.0))
    if type_name == 'DepthRanking':
        return messages.ranking_msg(HEADER, person_id, DETECTED_JOINTS, PROBABILITIES, tie_band=0.1)
    if type_name == 'Skeleton3D':
        return messages.skeleton_msg(
            HEADER, person_id, np.arange(NUM_JOINTS), POSITIONS_M + (shift / 1000, 0.0, 0.0),
            np.full(NUM_JOINTS, 0.9), model='dpnet:test', root_position_m=(0.1, 0.2, 3.5))
    raise ValueError(f'unknown message type {type_name}')


def build(type_name):
    if not type_name.endswith('Array'):
        return person(type_name)
    person_type = type_name[:-len('Array')]
    people = [person(person_type, person_id, k * ARRAY_OFFSET_PX) for k, person_id in enumerate(ARRAY_IDS)]
    builder = {'Keypoints2D': messages.keypoints_array_msg, 'DepthRanking': messages.ranking_array_msg,
               'Skeleton3D': messages.skeleton_array_msg}[person_type]
    return builder(HEADER, people[::-1])  # the builder puts them in id order
