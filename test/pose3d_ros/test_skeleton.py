import numpy as np
import pytest

from pose3d_ros import skeleton


def test_tree_has_one_root_and_parents_precede_children():
    assert skeleton.PARENTS[skeleton.ROOT] == -1
    assert np.sum(skeleton.PARENTS == -1) == 1
    for parent, child in skeleton.BONES:
        assert parent < child
    assert len(skeleton.BONES) == skeleton.NUM_JOINTS - 1


def test_flip_swaps_left_and_right_names():
    flipped = [skeleton.JOINT_NAMES[j] for j in skeleton.FLIP_PERMUTATION]
    for name, mirror in zip(skeleton.JOINT_NAMES, flipped):
        swapped = {'l': 'r', 'r': 'l'}.get(name[0]) + name[1:] if name[:2] in ('l_', 'r_') else name
        assert mirror == swapped
    np.testing.assert_array_equal(
        skeleton.FLIP_PERMUTATION[skeleton.FLIP_PERMUTATION], np.arange(skeleton.NUM_JOINTS))


def test_flip_keeps_bones_as_bones():
    bones = set(skeleton.BONES)
    flip = skeleton.FLIP_PERMUTATION
    assert {(int(flip[p]), int(flip[c])) for p, c in bones} == bones


def test_h36m_subset_is_the_documented_one():
    # Human3.6M 32-joint indices of hip ... r-wrist (3d-pose-baseline's 17-joint set)
    assert skeleton.H36M32_TO_CANONICAL.tolist() == [
        0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


def test_mpii_joints_map_to_canonical_joints_of_the_same_side_and_part():
    same_part = {'ankle': 'foot', 'pelvis': 'hip', 'upper_neck': 'neck_nose', 'head_top': 'head'}
    for mpii_name, canonical in zip(skeleton.MPII_JOINT_NAMES, skeleton.MPII_TO_CANONICAL):
        expected = mpii_name
        for mpii_part, part in same_part.items():
            expected = expected.replace(mpii_part, part)
        assert skeleton.JOINT_NAMES[canonical] == expected


def test_detected_joints_are_all_but_the_spine():
    assert len(skeleton.DETECTED_JOINTS) == 16
    assert 'spine' not in [skeleton.JOINT_NAMES[j] for j in skeleton.DETECTED_JOINTS]
    assert sorted(skeleton.MPII_TO_CANONICAL.tolist()) == skeleton.DETECTED_JOINTS.tolist()


def test_detected_bones_form_a_tree_bridging_the_spine():
    names = [skeleton.JOINT_NAMES[j] for j in skeleton.DETECTED_JOINTS]
    bones = {(names[parent], names[child]) for parent, child in skeleton.DETECTED_BONES}
    children = sorted(child for _, child in skeleton.DETECTED_BONES)
    assert children == [i for i, name in enumerate(names) if name != 'hip']  # one parent each
    assert ('hip', 'thorax') in bones and ('l_elbow', 'l_wrist') in bones
    assert len(bones) == len(skeleton.DETECTED_JOINTS) - 1


def test_mpii_reordering_puts_each_joint_at_its_canonical_rank():
    mpii = np.arange(16 * 2, dtype=float).reshape(16, 2)
    reordered = skeleton.mpii_to_canonical_order(mpii[None])[0]
    for mpii_index, canonical in enumerate(skeleton.MPII_TO_CANONICAL):
        rank = skeleton.DETECTED_JOINTS.tolist().index(canonical)
        np.testing.assert_array_equal(reordered[rank], mpii[mpii_index])
    with pytest.raises(ValueError, match='expected 16 MPII joints'):
        skeleton.mpii_to_canonical_order(np.zeros((17, 2)))


@pytest.mark.parametrize('indices, message', [
    ([], 'non-empty'),
    ([0, 17], r'\[0, 17\)'),
    ([3, 2], 'strictly increasing'),
])
def test_check_joint_indices_names_the_problem(indices, message):
    with pytest.raises(ValueError, match=message):
        skeleton.check_joint_indices(indices)
