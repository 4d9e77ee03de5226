"""A built-in walking motion, so the graph runs with no camera and no dataset.

The clip is procedural (sinusoidal gait on a skeleton with adult proportions), not recorded:
it carries no dataset licence. The walker turns on the spot, so the depth order of its joints
keeps changing as it would in front of a robot's camera.
"""
import numpy as np

from pose3d_ros.skeleton import JOINT_NAMES, NUM_JOINTS

# Rest pose in the body frame, millimetres: x to the walker's left, y up, z forward.
_REST = {
    'hip': (0, 0, 0), 'r_hip': (-130, -10, 0), 'l_hip': (130, -10, 0),
    'spine': (0, 230, 10), 'thorax': (0, 480, 0), 'neck_nose': (0, 580, 60),
    'head': (0, 700, 20), 'l_shoulder': (165, 450, -10), 'r_shoulder': (-165, 450, -10),
}
_THIGH, _SHIN, _UPPER_ARM, _FOREARM = 450.0, 440.0, 280.0, 250.0
_HIP_HEIGHT = 950.0


def _limb(angle):
    """(T, 3) unit vectors hanging down and swung forward by `angle` (radians) in the sagittal plane."""
    return np.stack([np.zeros_like(angle), -np.cos(angle), np.sin(angle)], axis=-1)


def walking_clip(num_frames, fps, camera_distance_mm=4000.0, camera_height_mm=1200.0,
                 stride_hz=0.9, turn_period_s=12.0):
    """(num_frames, 17, 3) joint positions in a camera's optical frame (x right, y down, z forward), mm."""

    t = np.arange(num_frames) / float(fps)
    phase = 2 * np.pi * stride_hz * t
    body = np.zeros((num_frames, NUM_JOINTS, 3))
    index = JOINT_NAMES.index
    for name, offset in _REST.items():
        body[:, index(name)] = offset

    for side, sign in (('r', 1.0), ('l', -1.0)):
        hip_flexion = 0.45 * sign * np.sin(phase)
        knee_flexion = 0.6 * np.clip(np.sin(phase * sign + 0.8 * sign), 0, None)
        knee = body[:, index(f'{side}_hip')] + _THIGH * _limb(hip_flexion)
        body[:, index(f'{side}_knee')] = knee
        body[:, index(f'{side}_foot')] = knee + _SHIN * _limb(hip_flexion - knee_flexion)
        arm_swing = -0.35 * sign * np.sin(phase)
        elbow = body[:, index(f'{side}_shoulder')] + _UPPER_ARM * _limb(arm_swing)
        body[:, index(f'{side}_elbow')] = elbow
        body[:, index(f'{side}_wrist')] = elbow + _FOREARM * _limb(arm_swing + 0.5)

    # Turn about the vertical axis, bob twice per stride, then place in front of the camera.
    yaw = 2 * np.pi * t / turn_period_s + np.pi  # starts facing the camera
    cos, sin = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    left = cos * body[..., 0] + sin * body[..., 2]
    forward = -sin * body[..., 0] + cos * body[..., 2]
    height = body[..., 1] + _HIP_HEIGHT + 25.0 * np.cos(2 * phase)[:, None]
    # Body (left, up, forward) at yaw 0 faces away from the camera: its left is the camera's -x.
    return np.stack([-left, camera_height_mm - height, camera_distance_mm + forward], axis=-1)
