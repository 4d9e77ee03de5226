"""skeleton_replay in its own process; this test subscribes over DDS and checks the geometry."""
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rcl_interfaces.srv import DescribeParameters, SetParameters
from rclpy.parameter import Parameter
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo

from pose3d_ros import messages
from pose3d_ros.msg import DepthRankingArray, Keypoints2DArray, Skeleton3D
from pose3d_ros.ranking import discretize, ranking_matrix
from pose3d_ros.skeleton import DETECTED_JOINTS, NUM_JOINTS

sys.path.insert(0, str(Path(__file__).parent))
from lifecycle_probe import call_service  # noqa: E402

REPLAY = str(Path(sys.executable).parent / 'skeleton_replay')
TOPICS = {'/pose3d/keypoints_2d': Keypoints2DArray, '/pose3d/ranking': DepthRankingArray,
          '/pose3d/ground_truth/skeleton': Skeleton3D, '/pose3d/camera_info': CameraInfo}


@pytest.fixture
def replay(start_process):
    return start_process(REPLAY, '--ros-args', '-r', '__ns:=/pose3d', '-p', 'rate_hz:=20.0',
                         '-p', 'frame_id:=test_optical_frame', '-p', 'depth_tie_mm:=30.0')


def test_published_frame_is_geometrically_consistent(replay, rclpy_init):
    node = rclpy.create_node('replay_checker')
    frames = {}
    for topic, msg_type in TOPICS.items():
        node.create_subscription(
            msg_type, topic,
            lambda msg, topic=topic: frames.setdefault(
                Time.from_msg(msg.header.stamp).nanoseconds, {}).update({topic: msg}), 10)
    deadline = time.monotonic() + 30
    complete = []
    while not complete and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        complete = [f for f in frames.values() if len(f) == len(TOPICS)]
    assert complete, f'no complete frame within 30 s (replay alive: {replay.poll() is None})'
    frame = complete[0]

    keypoints_array, ranking_array, skeleton, camera_info = (frame[t] for t in TOPICS)
    for msg in (keypoints_array, ranking_array, skeleton, camera_info):
        assert msg.header.frame_id == 'test_optical_frame'
    # One person, id 0, in each array, with the array's header; the ground truth is that person.
    [keypoints], [ranking] = keypoints_array.people, ranking_array.people
    assert keypoints.header == ranking.header == keypoints_array.header
    truth = messages.skeleton_from_msg(skeleton)
    assert keypoints.id == ranking.id == truth.id == 0
    assert truth.joint_indices.tolist() == list(range(NUM_JOINTS))
    assert skeleton.root_relative and skeleton.root_known
    np.testing.assert_allclose(truth.positions[0], 0.0)
    root = skeleton.root_position
    absolute = truth.positions + (root.x, root.y, root.z)

    # 2D joints are the pinhole projection of the 3D joints (defaults: f = 1000 px, 1280 x 720).
    person = messages.keypoints_from_msg(keypoints)
    np.testing.assert_array_equal(person.joint_indices, DETECTED_JOINTS)
    projected = absolute[DETECTED_JOINTS, :2] / absolute[DETECTED_JOINTS, 2:] * 1000 + (640, 360)
    np.testing.assert_allclose(person.pixels, projected, atol=1e-3)
    # Score 1 (it is the ground truth) and the box around the joints.
    assert person.score == 1.0
    np.testing.assert_allclose(person.box, [*projected.min(0), *projected.max(0)], atol=1e-3)
    # camera_info describes that camera.
    assert (camera_info.width, camera_info.height) == (1280, 720)
    assert camera_info.distortion_model == 'plumb_bob' and list(camera_info.d) == [0.0] * 5
    np.testing.assert_array_equal(camera_info.k, [1000, 0, 640, 0, 1000, 360, 0, 0, 1])
    np.testing.assert_array_equal(camera_info.p, [1000, 0, 640, 0, 0, 1000, 360, 0, 0, 0, 1, 0])
    crop_min = person.crop[:2]
    crop_max = crop_min + person.crop[2:]
    assert np.all(person.pixels > crop_min) and np.all(person.pixels < crop_max)

    # The ranking is eq. 1 on those joints' depths with the 30 mm tie set above.
    _, _, probabilities, discrete = messages.ranking_from_msg(ranking)
    np.testing.assert_array_equal(
        probabilities, ranking_matrix(absolute[DETECTED_JOINTS, 2] * 1000, 30.0))
    np.testing.assert_array_equal(discrete, discretize(probabilities, ranking.tie_band))
    node.destroy_node()


def test_parameters_are_described_and_read_only_ones_refuse_changes(replay, rclpy_init):
    node = rclpy.create_node('replay_param_checker')
    describe = node.create_client(DescribeParameters, '/pose3d/skeleton_replay/describe_parameters')
    descriptors = call_service(node, describe, DescribeParameters.Request(
        names=['rate_hz', 'focal_length_px'])).descriptors
    assert descriptors[0].description and descriptors[0].floating_point_range
    assert descriptors[1].read_only

    set_params = node.create_client(SetParameters, '/pose3d/skeleton_replay/set_parameters')
    results = call_service(node, set_params, SetParameters.Request(parameters=[
        Parameter('focal_length_px', value=500.0).to_parameter_msg(),
        Parameter('tie_band', value=0.9).to_parameter_msg(),
        Parameter('tie_band', value=0.2).to_parameter_msg()])).results
    assert [r.successful for r in results] == [False, False, True]
    assert 'read-only' in results[0].reason
    node.destroy_node()
