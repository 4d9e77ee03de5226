"""Conversions between numpy arrays and the package's rosidl messages.

The *_msg builders validate shapes before filling a message; the *_from_msg readers validate
what arrives over the wire and raise ValueError naming the message type, the field and the value.
"""
import array

import numpy as np
from geometry_msgs.msg import Point

from pose3d_ros import ranking as depth_ranking
from pose3d_ros.msg import DepthRanking, Keypoints2D, Skeleton3D
from pose3d_ros.skeleton import check_joint_indices


def _float32(values):
    # array.array is what rosidl stores for float32[]; building it from bytes avoids a
    # per-element Python check.
    return array.array('f', np.ascontiguousarray(values, dtype=np.float32).tobytes())


def _float32_scalar(value):
    # Round to what the wire carries, so a message equals itself after a DDS round trip.
    return float(np.float32(value))


def _uint8(values):
    return array.array('B', np.ascontiguousarray(values, dtype=np.uint8).tobytes())


def _checked_indices(msg):
    try:
        return check_joint_indices(np.frombuffer(bytes(msg.joint_indices), dtype=np.uint8))
    except ValueError as error:
        raise ValueError(f'{type(msg).__name__}.joint_indices: {error}') from None


def _field(msg, name, expected_length):
    values = np.asarray(getattr(msg, name), dtype=np.float32)
    if values.size != expected_length:
        raise ValueError(
            f'{type(msg).__name__}.{name} has {values.size} entries, expected {expected_length}')
    if not np.all(np.isfinite(values)):
        raise ValueError(f'{type(msg).__name__}.{name} contains NaN or infinite values')
    return values


def _check_shape(name, values, shape):
    values = np.asarray(values, dtype=np.float64)
    if values.shape != shape:
        raise ValueError(f'{name} must have shape {shape}, got {values.shape}')
    return values


def keypoints_msg(header, joint_indices, pixels, confidence, crop):
    """Keypoints2D from (N, 2) pixels, (N,) confidence and crop (x_min, y_min, width, height)."""
    indices = check_joint_indices(joint_indices)
    count = len(indices)
    pixels = _check_shape('pixels', pixels, (count, 2))
    confidence = _check_shape('confidence', confidence, (count,))
    crop = _check_shape('crop', crop, (4,))
    msg = Keypoints2D(header=header)
    msg.joint_indices = _uint8(indices)
    msg.x = _float32(pixels[:, 0])
    msg.y = _float32(pixels[:, 1])
    msg.confidence = _float32(confidence)
    msg.crop_x_min, msg.crop_y_min, msg.crop_width, msg.crop_height = map(_float32_scalar, crop)
    return msg


def keypoints_from_msg(msg):
    """(joint_indices, (N, 2) pixels, (N,) confidence) from a Keypoints2D."""
    indices = _checked_indices(msg)
    count = len(indices)
    pixels = np.stack([_field(msg, 'x', count), _field(msg, 'y', count)], axis=1)
    return indices, pixels, _field(msg, 'confidence', count)


def ranking_msg(header, joint_indices, probabilities, tie_band):
    """DepthRanking from an (N, N) probability matrix; the discretized ranking is derived here."""
    indices = check_joint_indices(joint_indices)
    count = len(indices)
    probabilities = _check_shape('probabilities', probabilities, (count, count))
    msg = DepthRanking(header=header, num_joints=count, tie_band=_float32_scalar(tie_band))
    msg.joint_indices = _uint8(indices)
    msg.probabilities = _float32(probabilities.ravel())
    msg.ranking = _float32(depth_ranking.discretize(probabilities, tie_band).ravel())
    return msg


def ranking_from_msg(msg):
    """(joint_indices, (N, N) probabilities, (N, N) discretized ranking) from a DepthRanking."""
    indices = _checked_indices(msg)
    count = len(indices)
    if msg.num_joints != count:
        raise ValueError(
            f'DepthRanking.num_joints is {msg.num_joints} but joint_indices has {count} entries')
    probabilities = _field(msg, 'probabilities', count * count).reshape(count, count)
    ranking = _field(msg, 'ranking', count * count).reshape(count, count)
    if probabilities.min() < 0.0 or probabilities.max() > 1.0:
        raise ValueError('DepthRanking.probabilities must lie in [0, 1]')
    if not np.all(np.isin(ranking, (depth_ranking.BEHIND, depth_ranking.FRONT, depth_ranking.TIE))):
        raise ValueError('DepthRanking.ranking may only hold 0, 0.5 and 1')
    return indices, probabilities, ranking


def skeleton_msg(header, joint_indices, positions_m, confidence, model,
                 root_relative=True, root_position_m=None):
    """Skeleton3D from (N, 3) positions in metres; root_position_m given when known."""
    indices = check_joint_indices(joint_indices)
    count = len(indices)
    positions = _check_shape('positions_m', positions_m, (count, 3))
    confidence = _check_shape('confidence', confidence, (count,))
    msg = Skeleton3D(header=header, root_relative=bool(root_relative), model=model)
    msg.joint_indices = _uint8(indices)
    msg.positions = [Point(x=x, y=y, z=z) for x, y, z in positions.tolist()]
    msg.confidence = _float32(confidence)
    if root_position_m is not None:
        x, y, z = _check_shape('root_position_m', root_position_m, (3,)).tolist()
        msg.root_known = True
        msg.root_position = Point(x=x, y=y, z=z)
    return msg


def skeleton_from_msg(msg):
    """(joint_indices, (N, 3) positions in metres, (N,) confidence) from a Skeleton3D."""
    indices = _checked_indices(msg)
    count = len(indices)
    if len(msg.positions) != count:
        raise ValueError(
            f'Skeleton3D.positions has {len(msg.positions)} entries, expected {count}')
    positions = np.array([(p.x, p.y, p.z) for p in msg.positions], dtype=np.float64)
    if not np.all(np.isfinite(positions)):
        raise ValueError('Skeleton3D.positions contains NaN or infinite values')
    return indices, positions, _field(msg, 'confidence', count)
