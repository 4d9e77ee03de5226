import numpy as np
import pytest
from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from pose3d_ros import messages
from pose3d_ros.msg import DepthRanking, DepthRankingArray, Keypoints2DArray
from pose3d_ros.skeleton import DETECTED_JOINTS, NUM_JOINTS

HEADER = Header(stamp=Time(sec=12, nanosec=5), frame_id='camera_optical_frame')
BOX = (10.0, 20.0, 110.0, 320.0)
CROP = (1, 2, 3, 4)


def keypoints(person_id=0, score=0.5, box=BOX, header=HEADER):
    return messages.keypoints_msg(header, person_id, score, box, DETECTED_JOINTS, np.zeros((16, 2)),
                                  np.ones(16), CROP)


def ranking(person_id=0, header=HEADER):
    return messages.ranking_msg(header, person_id, DETECTED_JOINTS, np.full((16, 16), 0.5), 0.1)


def test_keypoints_round_trip():
    pixels = np.random.default_rng(0).uniform(0, 500, size=(16, 2))
    msg = messages.keypoints_msg(HEADER, 42, 0.75, BOX, DETECTED_JOINTS, pixels, np.full(16, 0.5), CROP)
    person = messages.keypoints_from_msg(msg)
    assert (person.id, person.score) == (42, 0.75) and person.box.tolist() == list(BOX)
    np.testing.assert_array_equal(person.joint_indices, DETECTED_JOINTS)
    np.testing.assert_allclose(person.pixels, pixels, rtol=1e-6)
    np.testing.assert_allclose(person.confidence, 0.5)
    assert person.crop.tolist() == list(CROP)
    assert (msg.crop_x_min, msg.crop_y_min, msg.crop_width, msg.crop_height) == CROP


def test_ranking_message_carries_probabilities_and_their_discretization():
    probabilities = np.random.default_rng(1).uniform(size=(16, 16))
    msg = messages.ranking_msg(HEADER, 3, DETECTED_JOINTS, probabilities, tie_band=0.2)
    assert msg.num_joints == 16 and msg.tie_band == pytest.approx(0.2) and msg.id == 3
    person_id, _, back, discrete = messages.ranking_from_msg(msg)
    assert person_id == 3
    np.testing.assert_allclose(back, probabilities, rtol=1e-6)
    np.testing.assert_array_equal(discrete == DepthRanking.RANK_BEHIND, probabilities > 0.7)
    np.testing.assert_array_equal(discrete == DepthRanking.RANK_FRONT, probabilities < 0.3)


def test_skeleton_round_trip_with_root():
    positions = np.random.default_rng(2).normal(size=(NUM_JOINTS, 3))
    covariance = np.diag([0.01, 0.02, 0.09])
    msg = messages.skeleton_msg(HEADER, 9, np.arange(NUM_JOINTS), positions, np.ones(NUM_JOINTS),
                                model='m', root_position_m=(0, 0, 4), root_covariance=covariance)
    assert msg.root_relative and msg.root_known and msg.root_position.z == 4
    np.testing.assert_array_equal(np.reshape(msg.root_covariance, (3, 3)), covariance)
    person = messages.skeleton_from_msg(msg)
    assert person.id == 9 and person.root.tolist() == [0, 0, 4]
    np.testing.assert_allclose(person.positions, positions)
    unplaced = messages.skeleton_msg(HEADER, 9, np.arange(NUM_JOINTS), positions, np.ones(NUM_JOINTS), model='m')
    assert not unplaced.root_known and messages.skeleton_from_msg(unplaced).root is None
    assert not np.any(unplaced.root_covariance)
    with pytest.raises(ValueError, match=r'root_covariance must have shape \(3, 3\), got \(9,\)'):
        messages.skeleton_msg(HEADER, 9, np.arange(NUM_JOINTS), positions, np.ones(NUM_JOINTS), model='m',
                              root_position_m=(0, 0, 4), root_covariance=np.zeros(9))


def test_arrays_are_built_in_id_order_and_read_back_by_id():
    msg = messages.keypoints_array_msg(HEADER, [keypoints(7), keypoints(2)])
    assert isinstance(msg, Keypoints2DArray) and msg.header == HEADER
    assert [person.id for person in msg.people] == [2, 7]
    people, problems = messages.people_from_array(msg)
    assert list(people) == [2, 7] and problems == []
    assert people[7].score == 0.5
    empty = messages.ranking_array_msg(HEADER, [])
    assert isinstance(empty, DepthRankingArray) and messages.people_from_array(empty) == ({}, [])


def test_builders_reject_mismatched_shapes_and_bad_fields_naming_the_value():
    with pytest.raises(ValueError, match=r'pixels must have shape \(16, 2\), got \(15, 2\)'):
        messages.keypoints_msg(HEADER, 0, 1.0, BOX, DETECTED_JOINTS, np.zeros((15, 2)), np.ones(16), CROP)
    with pytest.raises(ValueError, match=r'Keypoints2D.box \[110.0, 20.0, 10.0, 320.0\] has x_max < x_min'):
        keypoints(box=(110.0, 20.0, 10.0, 320.0))
    with pytest.raises(ValueError, match=r'Keypoints2D.box contains NaN or infinite values: \[10.0, nan'):
        keypoints(box=(10.0, float('nan'), 110.0, 320.0))
    with pytest.raises(ValueError, match=r'Keypoints2D.score 1.5 is outside \[0, 1\]'):
        keypoints(score=1.5)
    with pytest.raises(ValueError, match=r'Keypoints2D.score nan is outside \[0, 1\]'):
        keypoints(score=float('nan'))
    with pytest.raises(ValueError, match=r'Skeleton3D.id must be an integer in \[0, 4294967295\], got -1'):
        messages.skeleton_msg(HEADER, -1, [0], np.zeros((1, 3)), np.ones(1), model='m')
    with pytest.raises(ValueError, match=r'Keypoints2DArray.people has duplicate ids \[3\]'):
        messages.keypoints_array_msg(HEADER, [keypoints(3), keypoints(1), keypoints(3)])
    with pytest.raises(ValueError, match=r"DepthRankingArray.people: person 1 has a header other than the "
                                         r"array's \(stamp 12.000000005, frame_id 'other'"):
        messages.ranking_array_msg(HEADER, [ranking(1, Header(stamp=HEADER.stamp, frame_id='other'))])
    with pytest.raises(ValueError, match='Skeleton3DArray.people holds Skeleton3D messages, got DepthRanking'):
        messages.skeleton_array_msg(HEADER, [ranking()])


def test_readers_name_the_bad_field():
    msg = keypoints()
    msg.y = msg.y[:-1]
    with pytest.raises(ValueError, match='Keypoints2D.y has 15 entries, expected 16'):
        messages.keypoints_from_msg(msg)
    msg = keypoints()
    msg.score = -0.25
    with pytest.raises(ValueError, match=r'Keypoints2D.score -0.25 is outside \[0, 1\]'):
        messages.keypoints_from_msg(msg)
    msg = keypoints()
    msg.box[3] = 5.0  # y_max above y_min = 20
    with pytest.raises(ValueError,
                       match=r'Keypoints2D.box \[10.0, 20.0, 110.0, 5.0\] has x_max < x_min or y_max < y_min'):
        messages.keypoints_from_msg(msg)
    msg = keypoints()
    msg.crop_width = float('inf')
    with pytest.raises(ValueError, match=r'Keypoints2D.crop contains NaN or infinite values: \[1.0, 2.0, inf, 4.0\]'):
        messages.keypoints_from_msg(msg)

    msg = ranking()
    msg.num_joints = 17
    with pytest.raises(ValueError, match='DepthRanking.num_joints is 17'):
        messages.ranking_from_msg(msg)
    msg.num_joints = 16
    msg.probabilities[3] = float('nan')
    with pytest.raises(ValueError, match='DepthRanking.probabilities contains NaN'):
        messages.ranking_from_msg(msg)

    msg = messages.skeleton_msg(HEADER, 0, [0, 1], np.zeros((2, 3)), np.ones(2), model='m')
    msg.joint_indices = [1, 0]
    with pytest.raises(ValueError, match='Skeleton3D.joint_indices: .*strictly increasing'):
        messages.skeleton_from_msg(msg)


def test_array_reader_leaves_out_malformed_people_and_names_each_problem():
    nan_person = keypoints(4)
    nan_person.x[2] = float('nan')
    moved = keypoints(6, header=Header(stamp=Time(sec=13), frame_id='camera_optical_frame'))
    msg = Keypoints2DArray(header=HEADER, people=[keypoints(1), keypoints(3), nan_person, keypoints(3), moved,
                                                  keypoints(8)])
    people, problems = messages.people_from_array(msg)
    assert list(people) == [1, 8]  # the good ones survive their neighbours
    assert problems == [
        'Keypoints2DArray.people[1] (id 3): another person of the array has id 3 (duplicate ids)',
        'Keypoints2DArray.people[2] (id 4): Keypoints2D.x contains NaN or infinite values',
        'Keypoints2DArray.people[3] (id 3): another person of the array has id 3 (duplicate ids)',
        "Keypoints2DArray.people[4] (id 6): header (stamp 13.000000000, frame_id 'camera_optical_frame') "
        "differs from the array's (stamp 12.000000005, frame_id 'camera_optical_frame')"]
