"""Conversions between numpy arrays and the package's rosidl messages.

The *_msg builders validate what they are given before filling a message; the *_from_msg readers
and people_from_array validate what arrives over the wire. Both raise ValueError naming the
message type, the field and the value.

One message per person (Keypoints2D, DepthRanking, Skeleton3D, each with the person's track id)
and one array message per image (Keypoints2DArray, DepthRankingArray, Skeleton3DArray: the
image's header and its people, in id order, each with that same header).
"""
import array
from typing import NamedTuple

import numpy as np
from geometry_msgs.msg import Point

from pose3d_ros import ranking as depth_ranking
from pose3d_ros.msg import (DepthRanking, DepthRankingArray, Keypoints2D, Keypoints2DArray, Skeleton3D,
                            Skeleton3DArray)
from pose3d_ros.skeleton import check_joint_indices

UINT32_MAX = 2**32 - 1


class PersonKeypoints(NamedTuple):
    """What keypoints_from_msg reads from a Keypoints2D."""
    id: int
    score: float
    box: np.ndarray            # (4,) x_min, y_min, x_max, y_max, pixels
    joint_indices: np.ndarray  # (N,) canonical indices
    pixels: np.ndarray         # (N, 2)
    confidence: np.ndarray     # (N,)
    crop: np.ndarray           # (4,) x_min, y_min, width, height, pixels


class PersonRanking(NamedTuple):
    """What ranking_from_msg reads from a DepthRanking."""
    id: int
    joint_indices: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N, N)
    ranking: np.ndarray        # (N, N) discretized


class PersonSkeleton(NamedTuple):
    """What skeleton_from_msg reads from a Skeleton3D."""
    id: int
    joint_indices: np.ndarray  # (N,)
    positions: np.ndarray      # (N, 3) metres
    confidence: np.ndarray     # (N,)
    root: np.ndarray = None    # (3,) metres in the camera frame when root_known, else None


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


def _check_id(type_name, person_id):
    if isinstance(person_id, (bool, float)) or not 0 <= int(person_id) <= UINT32_MAX:
        raise ValueError(f'{type_name}.id must be an integer in [0, {UINT32_MAX}], got {person_id!r}')
    return int(person_id)


def _check_score(type_name, score):
    if not 0.0 <= score <= 1.0:  # NaN fails too
        raise ValueError(f'{type_name}.score {score:g} is outside [0, 1]')
    return float(score)


def _check_box(type_name, box):
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,):
        raise ValueError(f'{type_name}.box must have 4 values (x_min, y_min, x_max, y_max), got shape {box.shape}')
    if not np.all(np.isfinite(box)):
        raise ValueError(f'{type_name}.box contains NaN or infinite values: {box.tolist()}')
    x_min, y_min, x_max, y_max = box
    if x_max < x_min or y_max < y_min:
        raise ValueError(f'{type_name}.box {box.tolist()} has x_max < x_min or y_max < y_min')
    return box


def _check_crop(type_name, crop):
    crop = np.asarray(crop, dtype=np.float64)
    if not np.all(np.isfinite(crop)):
        raise ValueError(f'{type_name}.crop contains NaN or infinite values: {crop.tolist()}')
    if crop[2] < 0 or crop[3] < 0:
        raise ValueError(f'{type_name}.crop has a negative size: width {crop[2]:g}, height {crop[3]:g}')
    return crop


def keypoints_msg(header, person_id, score, box, joint_indices, pixels, confidence, crop):
    """Keypoints2D of one person: track id, score in [0, 1], box (x_min, y_min, x_max, y_max),
    (N, 2) pixels, (N,) confidence and crop (x_min, y_min, width, height)."""
    indices = check_joint_indices(joint_indices)
    count = len(indices)
    pixels = _check_shape('pixels', pixels, (count, 2))
    confidence = _check_shape('confidence', confidence, (count,))
    crop = _check_crop('Keypoints2D', _check_shape('crop', crop, (4,)))
    msg = Keypoints2D(header=header, id=_check_id('Keypoints2D', person_id),
                      score=_float32_scalar(_check_score('Keypoints2D', score)))
    msg.box = np.asarray(_check_box('Keypoints2D', box), dtype=np.float32)
    msg.joint_indices = _uint8(indices)
    msg.x = _float32(pixels[:, 0])
    msg.y = _float32(pixels[:, 1])
    msg.confidence = _float32(confidence)
    msg.crop_x_min, msg.crop_y_min, msg.crop_width, msg.crop_height = map(_float32_scalar, crop)
    return msg


def keypoints_from_msg(msg):
    """A Keypoints2D -> PersonKeypoints."""
    indices = _checked_indices(msg)
    count = len(indices)
    score = _check_score('Keypoints2D', msg.score)
    box = _check_box('Keypoints2D', msg.box)
    crop = _check_crop('Keypoints2D', (msg.crop_x_min, msg.crop_y_min, msg.crop_width, msg.crop_height))
    pixels = np.stack([_field(msg, 'x', count), _field(msg, 'y', count)], axis=1)
    return PersonKeypoints(msg.id, score, box, indices, pixels, _field(msg, 'confidence', count), crop)


def ranking_msg(header, person_id, joint_indices, probabilities, tie_band):
    """DepthRanking of one person from an (N, N) probability matrix; the discretized ranking is
    derived here."""
    indices = check_joint_indices(joint_indices)
    count = len(indices)
    probabilities = _check_shape('probabilities', probabilities, (count, count))
    msg = DepthRanking(header=header, id=_check_id('DepthRanking', person_id), num_joints=count,
                       tie_band=_float32_scalar(tie_band))
    msg.joint_indices = _uint8(indices)
    msg.probabilities = _float32(probabilities.ravel())
    msg.ranking = _float32(depth_ranking.discretize(probabilities, tie_band).ravel())
    return msg


def ranking_from_msg(msg):
    """A DepthRanking -> PersonRanking."""
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
    return PersonRanking(msg.id, indices, probabilities, ranking)


def skeleton_msg(header, person_id, joint_indices, positions_m, confidence, model,
                 root_relative=True, root_position_m=None, root_covariance=None):
    """Skeleton3D of one person from (N, 3) positions in metres; root_position_m (3,) and its
    (3, 3) covariance (m^2) given when known."""
    indices = check_joint_indices(joint_indices)
    count = len(indices)
    positions = _check_shape('positions_m', positions_m, (count, 3))
    confidence = _check_shape('confidence', confidence, (count,))
    msg = Skeleton3D(header=header, id=_check_id('Skeleton3D', person_id), root_relative=bool(root_relative),
                     model=model)
    msg.joint_indices = _uint8(indices)
    msg.positions = [Point(x=x, y=y, z=z) for x, y, z in positions.tolist()]
    msg.confidence = _float32(confidence)
    if root_position_m is not None:
        x, y, z = _check_shape('root_position_m', root_position_m, (3,)).tolist()
        msg.root_known = True
        msg.root_position = Point(x=x, y=y, z=z)
        if root_covariance is not None:
            msg.root_covariance = _check_shape('root_covariance', root_covariance, (3, 3)).ravel().tolist()
    return msg


def skeleton_from_msg(msg):
    """A Skeleton3D -> PersonSkeleton."""
    indices = _checked_indices(msg)
    count = len(indices)
    if len(msg.positions) != count:
        raise ValueError(
            f'Skeleton3D.positions has {len(msg.positions)} entries, expected {count}')
    positions = np.array([(p.x, p.y, p.z) for p in msg.positions], dtype=np.float64)
    if not np.all(np.isfinite(positions)):
        raise ValueError('Skeleton3D.positions contains NaN or infinite values')
    root = None
    if msg.root_known:
        root = np.array([msg.root_position.x, msg.root_position.y, msg.root_position.z])
        if not np.all(np.isfinite(root)):
            raise ValueError('Skeleton3D.root_position contains NaN or infinite values')
    return PersonSkeleton(msg.id, indices, positions, _field(msg, 'confidence', count), root)


# array message type -> (person message type, its reader)
ARRAYS = {Keypoints2DArray: (Keypoints2D, keypoints_from_msg),
          DepthRankingArray: (DepthRanking, ranking_from_msg),
          Skeleton3DArray: (Skeleton3D, skeleton_from_msg)}


def _array_msg(array_type, header, people):
    person_type = ARRAYS[array_type][0]
    people = list(people)
    for person in people:
        if not isinstance(person, person_type):
            raise ValueError(f'{array_type.__name__}.people holds {person_type.__name__} messages, '
                             f'got {type(person).__name__}')
        if person.header != header:
            raise ValueError(f'{array_type.__name__}.people: person {person.id} has a header other than '
                             f"the array's ({_describe_header(person.header)} vs {_describe_header(header)})")
    ids = [person.id for person in people]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f'{array_type.__name__}.people has duplicate ids {duplicates}')
    return array_type(header=header, people=sorted(people, key=lambda person: person.id))


def keypoints_array_msg(header, people):
    """Keypoints2DArray of one image from its Keypoints2D messages (each with `header`)."""
    return _array_msg(Keypoints2DArray, header, people)


def ranking_array_msg(header, people):
    """DepthRankingArray of one image from its DepthRanking messages (each with `header`)."""
    return _array_msg(DepthRankingArray, header, people)


def skeleton_array_msg(header, people):
    """Skeleton3DArray of one image from its Skeleton3D messages (each with `header`)."""
    return _array_msg(Skeleton3DArray, header, people)


def _describe_header(header):
    return f'stamp {header.stamp.sec}.{header.stamp.nanosec:09d}, frame_id {header.frame_id!r}'


def people_from_array(msg):
    """A Keypoints2DArray, DepthRankingArray or Skeleton3DArray -> ({id: PersonKeypoints,
    PersonRanking or PersonSkeleton} in id order, [problem, ...]).

    Each person is read on its own, so one malformed person does not hide the others: a person
    whose fields are invalid, whose header is not the array's, or whose id another person of the
    array also has (both are left out: which one is meant is unknown) is left out of the dict,
    and its problem, naming the array, the entry, the field and the value, is listed.
    """
    array_name = type(msg).__name__
    read = ARRAYS[type(msg)][1]
    ids = [person.id for person in msg.people]
    people, problems = {}, []
    for index, person in enumerate(msg.people):
        where = f'{array_name}.people[{index}] (id {person.id})'
        if ids.count(person.id) > 1:
            problems.append(f'{where}: another person of the array has id {person.id} (duplicate ids)')
            continue
        if person.header != msg.header:
            problems.append(f"{where}: header ({_describe_header(person.header)}) differs from the array's "
                            f'({_describe_header(msg.header)})')
            continue
        try:
            people[person.id] = read(person)
        except ValueError as error:
            problems.append(f'{where}: {error}')
    return dict(sorted(people.items())), problems
