import numpy as np
import pytest
from std_msgs.msg import Header

from pose3d_ros import messages
from pose3d_ros.msg import DepthRanking
from pose3d_ros.skeleton import DETECTED_JOINTS, NUM_JOINTS

HEADER = Header(frame_id='camera_optical_frame')


def test_keypoints_round_trip():
    pixels = np.random.default_rng(0).uniform(0, 500, size=(16, 2))
    msg = messages.keypoints_msg(HEADER, DETECTED_JOINTS, pixels, np.full(16, 0.5), (1, 2, 3, 4))
    indices, back, confidence = messages.keypoints_from_msg(msg)
    np.testing.assert_array_equal(indices, DETECTED_JOINTS)
    np.testing.assert_allclose(back, pixels, rtol=1e-6)
    np.testing.assert_allclose(confidence, 0.5)
    assert (msg.crop_x_min, msg.crop_y_min, msg.crop_width, msg.crop_height) == (1, 2, 3, 4)


def test_ranking_message_carries_probabilities_and_their_discretization():
    probabilities = np.random.default_rng(1).uniform(size=(16, 16))
    msg = messages.ranking_msg(HEADER, DETECTED_JOINTS, probabilities, tie_band=0.2)
    assert msg.num_joints == 16 and msg.tie_band == pytest.approx(0.2)
    _, back, ranking = messages.ranking_from_msg(msg)
    np.testing.assert_allclose(back, probabilities, rtol=1e-6)
    np.testing.assert_array_equal(ranking == DepthRanking.RANK_BEHIND, probabilities > 0.7)
    np.testing.assert_array_equal(ranking == DepthRanking.RANK_FRONT, probabilities < 0.3)


def test_skeleton_round_trip_with_root():
    positions = np.random.default_rng(2).normal(size=(NUM_JOINTS, 3))
    msg = messages.skeleton_msg(HEADER, np.arange(NUM_JOINTS), positions, np.ones(NUM_JOINTS),
                                model='m', root_position_m=(0, 0, 4))
    assert msg.root_relative and msg.root_known and msg.root_position.z == 4
    _, back, _ = messages.skeleton_from_msg(msg)
    np.testing.assert_allclose(back, positions)


def test_builders_reject_mismatched_shapes():
    with pytest.raises(ValueError, match=r'pixels must have shape \(16, 2\), got \(15, 2\)'):
        messages.keypoints_msg(HEADER, DETECTED_JOINTS, np.zeros((15, 2)), np.ones(16), (0,) * 4)


def test_readers_name_the_bad_field():
    msg = messages.keypoints_msg(HEADER, DETECTED_JOINTS, np.zeros((16, 2)), np.ones(16), (0,) * 4)
    msg.y = msg.y[:-1]
    with pytest.raises(ValueError, match='Keypoints2D.y has 15 entries, expected 16'):
        messages.keypoints_from_msg(msg)

    msg = messages.ranking_msg(HEADER, DETECTED_JOINTS, np.full((16, 16), 0.5), 0.1)
    msg.num_joints = 17
    with pytest.raises(ValueError, match='DepthRanking.num_joints is 17'):
        messages.ranking_from_msg(msg)
    msg.num_joints = 16
    msg.probabilities[3] = float('nan')
    with pytest.raises(ValueError, match='DepthRanking.probabilities contains NaN'):
        messages.ranking_from_msg(msg)

    msg = messages.skeleton_msg(HEADER, [0, 1], np.zeros((2, 3)), np.ones(2), model='m')
    msg.joint_indices = [1, 0]
    with pytest.raises(ValueError, match='Skeleton3D.joint_indices: .*strictly increasing'):
        messages.skeleton_from_msg(msg)
