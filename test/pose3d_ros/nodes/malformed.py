"""Seeded malformed messages for the camera and lifter nodes, each with the reason the node must
give for it, and the valid people they are mutations of: shared by the nodes' fuzz tests and
bench/fuzz_soak.py. Its importer puts this folder and its parent (compressed_samples) on sys.path.
"""
import array

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from pose3d_ros import images, messages
from pose3d_ros.camera import project
from pose3d_ros.images import compressed_msg
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray
from pose3d_ros.nodes.skeleton_replay import pinhole_camera_info
from pose3d_ros.ranking import ranking_matrix
from pose3d_ros.skeleton import DETECTED_JOINTS

from compressed_samples import claiming

FRAME_ID = 'test_optical_frame'

# -- camera: images -----------------------------------------------------------------------------

# Raw mutations -> the reason each must be rejected for.
RAW_FUZZ = {
    'bad encoding': 'image_encoding', 'zero size': 'image_size', 'odd yuv422 width': 'image_size',
    'short step': 'image_step', 'truncated data': 'image_truncated', 'huge claim': 'image_too_large',
    'negative stamp': 'negative_stamp'}
# Compressed mutations -> the reasons they may be rejected for; None: a mutant of the kind may
# decode without a complaint (a JPEG claiming a size with as many 16x16 blocks as its data holds,
# a bit flip libjpeg gets through): not malformed as far as anyone can tell, so not sent.
ANY = {*images.REJECTION_REASONS, None}
COMPRESSED_FUZZ = {
    'not an image': {'image_encoding'}, 'compressed depth': {'image_encoding'},
    'jpeg without frame header': {'image_header'}, 'jpeg cut': {'image_truncated'},
    'jpeg cut, end marker appended': {'image_truncated', 'image_decode'}, 'png cut': {'image_truncated', 'image_decode'},
    'png cut, IEND appended': {'image_truncated', 'image_decode'}, 'png header bit flip': {'image_header'},
    'size claim': {'image_too_large', 'image_implausible', 'image_truncated', 'image_decode', None},
    'implausible size claim': {'image_implausible'}, 'jpeg header bit flip': ANY,
    'negative stamp': {'negative_stamp'}}
# How the lines libjpeg and libpng print on their own start: none may reach a node's output.
CODEC_LINE_STARTS = ('Corrupt JPEG data', 'Premature end of JPEG file', 'libpng', 'libjpeg')


def compressed_bases(seed):
    """{'jpeg': bytes, 'png': bytes} of one small seeded image, for compressed_mutant to cut and edit."""
    small = cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 256, (72, 96, 3), dtype=np.uint8), (0, 0), 1.5)
    return {fmt: bytes(compressed_msg(Header(), small, fmt).data) for fmt in ('jpeg', 'png')}


def bit_flipped(data, start, end, rng):
    data = bytearray(data)
    data[int(rng.integers(start, end))] ^= 1 << int(rng.integers(8))
    return bytes(data)


def raw_mutant(kind, header, rng):
    """A malformed sensor_msgs/Image of a RAW_FUZZ kind."""
    width, height = int(rng.integers(2, 40)), int(rng.integers(2, 40))
    encoding, step, size = 'rgb8', width * 3, width * 3 * height
    if kind == 'bad encoding':
        encoding = str(rng.choice(['weird16', '', 'RGB8', 'rgb16', '32FC1', 'jpeg', 'bgr8 ']))
    elif kind == 'zero size':
        width, height = (0, height) if rng.integers(2) else (width, 0)
    elif kind == 'odd yuv422 width':
        width, encoding = width | 1, 'yuv422'
        step = width * 2
        size = step * height
    elif kind == 'short step':
        step = int(rng.integers(0, width * 3))
    elif kind == 'truncated data':
        size = int(rng.integers(0, step * height))
    elif kind == 'huge claim':
        width, height = int(rng.integers(7000, 2**32)), int(rng.integers(7000, 2**32))
        step, size = width * 3 % 2**32, 64
    elif kind == 'negative stamp':
        header.stamp.sec = -int(rng.integers(1, 2**31))
    msg = Image(header=header, width=width, height=height, encoding=encoding, step=step)
    msg.data = array.array('B', bytes(size))
    return msg


def compressed_mutant(kind, header, rng, bases):
    """A sensor_msgs/CompressedImage of a COMPRESSED_FUZZ kind, made from `bases` (compressed_bases)."""
    jpeg, png = bases['jpeg'], bases['png']
    fmt, data = 'jpeg', jpeg
    if kind == 'not an image':
        data = bytes([int(rng.integers(0x00, 0x80))]) + rng.bytes(int(rng.integers(0, 300)))
    elif kind == 'compressed depth':
        fmt, data = '16UC1; compressedDepth png', png
    elif kind == 'jpeg without frame header':
        data = jpeg[:2] + b'\0' + rng.bytes(int(rng.integers(0, 2000)))
    elif kind == 'jpeg cut':
        data = jpeg[:int(rng.integers(len(jpeg) // 4, 3 * len(jpeg) // 4))]
    elif kind == 'jpeg cut, end marker appended':
        data = jpeg[:int(rng.integers(len(jpeg) // 4, 3 * len(jpeg) // 4))] + b'\xff\xd9'
    elif kind == 'png cut':
        fmt, data = 'png', png[:int(rng.integers(8, len(png) - 12))]
    elif kind == 'png cut, IEND appended':
        fmt, data = 'png', png[:int(rng.integers(40, len(png) - 12))] + png[-12:]
    elif kind == 'png header bit flip':
        fmt, data = 'png', bit_flipped(png, 16, 29, rng)  # IHDR's fields
    elif kind == 'size claim':
        fmt = str(rng.choice(['jpeg', 'png']))
        width, height = (int(v) for v in np.exp(rng.uniform(0, np.log(65535), 2)))  # all scales alike
        data = claiming(jpeg if fmt == 'jpeg' else png, width, height)
    elif kind == 'implausible size claim':  # 4 to 36 Mpx, in a few kB
        data = claiming(jpeg, *(int(v) for v in rng.integers(2000, 6000, 2)))
    elif kind == 'jpeg header bit flip':
        sof = jpeg.index(b'\xff\xc0')
        data = bit_flipped(jpeg, sof + 4, sof + 19, rng)  # precision, size, components
    elif kind == 'negative stamp':
        header.stamp.sec = -int(rng.integers(1, 2**31))
    msg = CompressedImage(header=header, format=fmt)
    msg.data = array.array('B', data)
    return msg


def expected_reason(msg, transport):
    """The reason the camera node must give for `msg` (its checks run here), None if it is valid."""
    if msg.header.stamp.sec < 0:
        return 'negative_stamp'
    try:
        (images.rgb_from_image_msg if transport == 'raw' else images.rgb_from_compressed_msg)(msg)
    except images.ImageRejected as error:
        return error.reason
    return None


# -- lifter: keypoints_2d, ranking, camera_info -------------------------------------------------

# A person 4 m in front of a 1000 px pinhole camera.
JOINTS_MM = np.array([[0, 0, 4000], [-130, 10, 4000], [-130, 460, 4050], [-130, 900, 4000],
                      [130, 10, 4000], [130, 460, 3950], [130, 900, 4000], [0, -230, 4010],
                      [0, -480, 4000], [0, -580, 3940], [0, -700, 3980], [165, -450, 4010],
                      [180, -170, 4000], [190, 80, 3950], [-165, -450, 4010], [-180, -170, 4000],
                      [-190, 80, 4050]], dtype=float)
PIXELS = project(JOINTS_MM[DETECTED_JOINTS], (1000.0, 1000.0), (640.0, 360.0))
RANKING_P = ranking_matrix(JOINTS_MM[DETECTED_JOINTS, 2], 20.0)


def camera_info():
    """The camera of JOINTS_MM."""
    return pinhole_camera_info(1000.0, 1280, 720)


def keypoints(header, person_id=0, pixels=PIXELS, joint_indices=DETECTED_JOINTS):
    pixels = np.asarray(pixels)
    return messages.keypoints_msg(header, person_id, 0.9, (*pixels.min(0), *pixels.max(0)), joint_indices, pixels,
                                  np.ones(len(pixels)), (500, 0, 300, 300))


def ranking(header, person_id=0, joint_indices=DETECTED_JOINTS):
    count = len(joint_indices)
    return messages.ranking_msg(header, person_id, joint_indices, RANKING_P[:count, :count], 0.1)


def _nameless(header):
    return Header(stamp=header.stamp, frame_id='')


def _time_msg(sec, nanosec):
    msg = Header().stamp
    msg.sec, msg.nanosec = sec, nanosec
    return msg


def malformed_keypoints_person(header, rng):
    """Keypoints2D that the lifter cannot use, one of several kinds."""
    person = keypoints(header, int(rng.integers(0, 5)))
    kind = rng.integers(4)
    if kind == 0:
        person.x[int(rng.integers(16))] = float('nan')
    elif kind == 1:
        return keypoints(header, person.id, PIXELS[:3], [0, 1, 2])
    elif kind == 2:
        person.header = Header(stamp=header.stamp, frame_id='another_frame')
    else:
        person.confidence = person.confidence[:5]
    return person


def malformed_ranking_person(header, rng):
    person = ranking(header, int(rng.integers(0, 5)))
    kind = rng.integers(3)
    if kind == 0:
        person.num_joints = 15
    elif kind == 1:
        person.probabilities[int(rng.integers(256))] = 1.5
    else:
        person.ranking[int(rng.integers(256))] = 0.3
    return person


def malformed_camera_info(rng):
    info = camera_info()
    kind = rng.integers(4)
    if kind == 0:
        info.k[0] = 0.0
    elif kind == 1:
        info.k[4] = float('inf')
    elif kind == 2:
        info.d = [0.1, 0.0, 0.0]
    else:
        info.distortion_model, info.d = 'rational_polynomial', [0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0]
    return info


def malformed_lifter_message(header, rng):
    """A seeded malformed message -> (publisher kind, message, the lifter's drop reason); `header`
    is a valid frame's (its stamp, or none at all, is reused half of the time)."""
    kind = ('keypoints', 'ranking', 'camera_info')[rng.integers(3)]
    if kind == 'camera_info':
        return kind, malformed_camera_info(rng), 'invalid camera_info'
    array_type, person = {'keypoints': (Keypoints2DArray, malformed_keypoints_person),
                          'ranking': (DepthRankingArray, malformed_ranking_person)}[kind]
    problem = rng.integers(4)
    if problem == 0:  # every person malformed
        people = [person(header, rng) for _ in range(int(rng.integers(1, 3)))]
        return kind, array_type(header=header, people=people), 'no valid people'
    bad = {1: _nameless(header), 2: Header(stamp=_time_msg(-int(rng.integers(1, 10**6)), 0), frame_id=FRAME_ID),
           3: Header(stamp=_time_msg(int(header.stamp.sec), 10**9 + int(rng.integers(10**6))), frame_id=FRAME_ID)}
    people = [keypoints(bad[problem]) if kind == 'keypoints' else ranking(bad[problem])]
    return kind, array_type(header=bad[problem], people=people), 'invalid header'
