import numpy as np
import pytest

from pose3d_ros.ranking import ranking_matrix
from pose3d_ros.skeleton import NUM_JOINTS, ROOT
from training import metrics


def random_poses(seed, frames=8):
    return np.random.default_rng(seed).normal(0.0, 300.0, size=(frames, NUM_JOINTS, 3))


def random_rotations(seed, frames):
    """Uniformly random proper rotations, (frames, 3, 3)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(frames, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


def horn_similarity_align(predicted, target):
    """Least-squares proper similarity alignment of one (J, 3) pose by Horn's quaternion method.

    An independent check of metrics.procrustes_align: a unit quaternion is always a proper
    rotation, so no reflection handling is involved.
    """
    p = predicted - predicted.mean(axis=0)
    t = target - target.mean(axis=0)
    s = p.T @ t  # s[a, b] = sum_k p_ka t_kb
    (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = s
    n = np.array([
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ])
    q0, q1, q2, q3 = np.linalg.eigh(n)[1][:, -1]
    rotation = np.array([
        [q0*q0 + q1*q1 - q2*q2 - q3*q3, 2 * (q1*q2 - q0*q3), 2 * (q1*q3 + q0*q2)],
        [2 * (q1*q2 + q0*q3), q0*q0 - q1*q1 + q2*q2 - q3*q3, 2 * (q2*q3 - q0*q1)],
        [2 * (q1*q3 - q0*q2), 2 * (q2*q3 + q0*q1), q0*q0 - q1*q1 - q2*q2 + q3*q3],
    ])
    rotated = p @ rotation.T
    scale = np.sum(t * rotated) / np.sum(p * p)
    return scale * rotated + target.mean(axis=0)


# --- Protocol #1 -----------------------------------------------------------------------------

def test_mpjpe_of_one_displaced_joint():
    target = random_poses(0, frames=1)
    predicted = target.copy()
    predicted[0, 3] += (3.0, 4.0, 0.0)  # a 5 mm error on one of 17 joints
    np.testing.assert_allclose(metrics.mpjpe(predicted, target), [5.0 / 17])


def test_mpjpe_aligns_the_roots():
    target = random_poses(1, frames=2)
    predicted = target.copy()
    predicted[:, ROOT] += (0.0, 0.0, 17.0)
    # After root alignment the other 16 joints are all 17 mm off: 16 * 17 / 17 joints.
    np.testing.assert_allclose(metrics.mpjpe(predicted, target), [16.0, 16.0])
    expected_per_joint = np.full(NUM_JOINTS, 17.0)
    expected_per_joint[ROOT] = 0.0
    np.testing.assert_allclose(metrics.per_joint_errors(predicted, target), expected_per_joint)


def test_mpjpe_is_invariant_to_translating_the_prediction():
    target, predicted = random_poses(2), random_poses(3)
    shifted = predicted + np.random.default_rng(4).normal(0, 1000, size=(8, 1, 3))
    np.testing.assert_allclose(metrics.mpjpe(shifted, target), metrics.mpjpe(predicted, target))


def test_mpjpe_keeps_leading_axes():
    target, predicted = random_poses(5, frames=6), random_poses(6, frames=6)
    errors = metrics.mpjpe(predicted.reshape(2, 3, NUM_JOINTS, 3), target.reshape(2, 3, NUM_JOINTS, 3))
    assert errors.shape == (2, 3)
    np.testing.assert_allclose(errors.ravel(), metrics.mpjpe(predicted, target))


def test_per_joint_errors_average_over_frames():
    target = np.zeros((2, 3, 3))
    predicted = np.zeros((2, 3, 3))
    predicted[0, 1] = (2.0, 0.0, 0.0)
    predicted[1, 1] = (0.0, 6.0, 0.0)
    predicted[1, 2] = (0.0, 0.0, 10.0)
    np.testing.assert_allclose(metrics.per_joint_errors(predicted, target), [0.0, 4.0, 5.0])


# --- Protocol #2 -----------------------------------------------------------------------------

def test_p_mpjpe_removes_rotation_scale_and_translation():
    target = random_poses(7)
    rotations = random_rotations(8, 8)
    scales = np.random.default_rng(9).uniform(0.5, 2.0, size=(8, 1, 1))
    translations = np.random.default_rng(10).normal(0, 1000, size=(8, 1, 3))
    predicted = scales * (target @ rotations) + translations
    np.testing.assert_allclose(metrics.p_mpjpe(predicted, target), 0.0, atol=1e-6)


def test_p_mpjpe_is_invariant_to_a_similarity_of_the_prediction():
    target, predicted = random_poses(11), random_poses(12)
    moved = 1.7 * (predicted @ random_rotations(13, 8)) - 250.0
    np.testing.assert_allclose(metrics.p_mpjpe(moved, target), metrics.p_mpjpe(predicted, target))


def test_p_mpjpe_does_not_undo_a_reflection():
    target = random_poses(14, frames=4)
    mirrored = target * (-1.0, 1.0, 1.0)
    errors = metrics.p_mpjpe(mirrored, target)
    assert np.all(errors > 10.0)  # a reflection would have aligned them to 0
    expected = [np.linalg.norm(horn_similarity_align(m, t) - t, axis=-1).mean()
                for m, t in zip(mirrored, target)]
    np.testing.assert_allclose(errors, expected, rtol=1e-9)
    np.testing.assert_allclose(metrics.procrustes_align(mirrored, target),
                               [horn_similarity_align(m, t) for m, t in zip(mirrored, target)],
                               atol=1e-8)


def test_p_mpjpe_matches_horn_on_random_poses():
    target, predicted = random_poses(15, frames=5), random_poses(16, frames=5)
    expected = [np.linalg.norm(horn_similarity_align(p, t) - t, axis=-1).mean()
                for p, t in zip(predicted, target)]
    np.testing.assert_allclose(metrics.p_mpjpe(predicted, target), expected, rtol=1e-9)


def test_p_mpjpe_is_below_mpjpe_on_random_poses():
    # Not a theorem (Procrustes minimizes squared error, not mean distance), but holds for
    # errors spread over all joints.
    target = random_poses(17, frames=50)
    predicted = target + np.random.default_rng(18).normal(0, 40, size=target.shape)
    assert np.all(metrics.p_mpjpe(predicted, target) <= metrics.mpjpe(predicted, target))


def test_p_mpjpe_of_a_collapsed_prediction_is_the_target_spread():
    target = random_poses(19, frames=2)
    spread = np.linalg.norm(target - target.mean(axis=1, keepdims=True), axis=-1).mean(axis=1)
    np.testing.assert_allclose(metrics.p_mpjpe(np.zeros_like(target), target), spread)


# --- Per-action tables ---------------------------------------------------------------------

def test_per_action_mean_averages_actions_not_frames():
    errors = [10.0, 10.0, 10.0, 40.0]
    actions = ['Walking', 'Walking', 'Walking', 'Eating']
    per_action, average = metrics.per_action_mean(errors, actions)
    assert per_action == {'Eating': 40.0, 'Walking': 10.0}
    assert list(per_action) == ['Eating', 'Walking']  # table order, absent actions left out
    assert average == 25.0
    assert np.mean(errors) == 17.5


def test_per_action_mean_rejects_bad_input():
    with pytest.raises(ValueError, match=r"actions must be Human3.6M actions .*\['Jumping'\]"):
        metrics.per_action_mean([1.0, 2.0], ['Walking', 'Jumping'])
    with pytest.raises(ValueError, match=r'actions must have the same shape as errors \(2,\)'):
        metrics.per_action_mean([1.0, 2.0], ['Walking'])
    with pytest.raises(ValueError, match=r'errors must have shape \(F,\) with F > 0, got \(0,\)'):
        metrics.per_action_mean([], [])


# --- Ranking accuracy ----------------------------------------------------------------------

TARGET_RANKINGS = np.array([
    [[0.5, 0.0, 0.0], [1.0, 0.5, 0.0], [1.0, 1.0, 0.5]],   # depth order 0 < 1 < 2
    [[0.5, 0.0, 0.0], [1.0, 0.5, 0.5], [1.0, 0.5, 0.5]],   # joints 1 and 2 tie
])
PREDICTED_RANKINGS = np.array([
    [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]],   # pair (0, 2) wrong both ways
    [[0.5, 0.5, 0.0], [1.0, 0.5, 1.0], [1.0, 0.0, 0.5]],   # (0, 1) a predicted tie: wrong
])


def test_ranking_accuracy_hand_example():
    per_pair, overall = metrics.ranking_accuracy(PREDICTED_RANKINGS, TARGET_RANKINGS)
    nan = np.nan
    # (1, 2) and (2, 1): only frame 0 counts, the tie of frame 1 is not scored.
    np.testing.assert_array_equal(per_pair, [[nan, 0.5, 0.5], [1.0, nan, 1.0], [0.5, 1.0, nan]])
    assert overall == pytest.approx(4.5 / 6)


def test_ranking_accuracy_leaves_out_pairs_that_always_tie():
    per_pair, overall = metrics.ranking_accuracy(PREDICTED_RANKINGS[1:], TARGET_RANKINGS[1:])
    nan = np.nan
    np.testing.assert_array_equal(per_pair, [[nan, 0.0, 1.0], [1.0, nan, nan], [1.0, nan, nan]])
    assert overall == pytest.approx(3 / 4)  # 3/6 if NaN counted as wrong, 5/6 as right


def test_ranking_accuracy_of_the_ground_truth_is_one():
    rankings = ranking_matrix(np.random.default_rng(20).normal(4000, 300, size=(10, 16)), 1.0)
    per_pair, overall = metrics.ranking_accuracy(rankings, rankings)
    assert np.all(np.isnan(np.diag(per_pair)))
    assert overall == 1.0


def test_ranking_accuracy_rejects_undiscretized_probabilities():
    with pytest.raises(ValueError, match='predicted_ranking entries must be 0.0, 0.5 or 1.0'):
        metrics.ranking_accuracy(np.full((1, 3, 3), 0.7), TARGET_RANKINGS[:1])
    with pytest.raises(ValueError, match=r'target_ranking must have shape \(..., N, N\), got \(2, 3\)'):
        metrics.ranking_accuracy(TARGET_RANKINGS, np.zeros((2, 3)))


# --- PCKh --------------------------------------------------------------------------------

def pck_example():
    target = np.zeros((2, 3, 2))
    predicted = np.array([
        [[3.0, 0.0], [3.0, 4.0], [0.0, 6.0]],    # head 10, radius 5: 3 in, 5 in (<=), 6 out
        [[6.0, 8.0], [0.0, 11.0], [0.0, 0.0]],   # head 20, radius 10: 10 in, 11 out, 0 in
    ])
    return predicted, target, np.array([10.0, 20.0])


def test_pck_hand_example():
    predicted, target, head_size = pck_example()
    per_joint, overall = metrics.pck(predicted, target, head_size)
    np.testing.assert_array_equal(per_joint, [1.0, 0.5, 0.5])
    assert overall == pytest.approx(4 / 6)


def test_pck_scores_only_visible_joints():
    predicted, target, head_size = pck_example()
    visible = np.array([[True, True, True], [True, True, False]])
    per_joint, overall = metrics.pck(predicted, target, head_size, visible=visible)
    np.testing.assert_array_equal(per_joint, [1.0, 0.5, 0.0])
    assert overall == pytest.approx(3 / 5)
    visible[:, 2] = False
    per_joint, overall = metrics.pck(predicted, target, head_size, visible=visible)
    np.testing.assert_array_equal(per_joint, [1.0, 0.5, np.nan])
    assert overall == pytest.approx(3 / 4)


def test_pck_threshold_scales_the_radius():
    predicted, target, head_size = pck_example()
    per_joint, _ = metrics.pck(predicted, target, head_size, threshold=1.0)
    np.testing.assert_array_equal(per_joint, [1.0, 1.0, 1.0])


def test_mpii_head_size_is_head_top_to_upper_neck():
    head_top = np.array([[103.0, 54.0], [0.0, 0.0]])
    upper_neck = np.array([[100.0, 50.0], [0.0, 12.0]])
    np.testing.assert_allclose(metrics.mpii_head_size(head_top, upper_neck), [5.0, 12.0])


def test_pck_rejects_bad_input():
    predicted, target, head_size = pck_example()
    with pytest.raises(ValueError, match=r'reference_size must have shape \(2,\), got \(3,\)'):
        metrics.pck(predicted, target, np.ones(3))
    with pytest.raises(ValueError, match='reference_size must be positive'):
        metrics.pck(predicted, target, np.array([10.0, 0.0]))
    with pytest.raises(ValueError, match=r'visible must be a bool array of shape \(2, 3\)'):
        metrics.pck(predicted, target, head_size, visible=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r'predicted must have shape \(..., J, 2\), got \(2, 3, 3\)'):
        metrics.pck(np.zeros((2, 3, 3)), target, head_size)


# --- Protocols ---------------------------------------------------------------------------

def test_protocol_cameras():
    assert metrics.protocol_cameras(1) == ((1, 2, 3, 4), (1, 2, 3, 4))
    assert metrics.protocol_cameras(2) == ((1, 2, 3, 4), (1, 2, 3, 4))
    assert metrics.protocol_cameras(3) == ((1, 2, 3), (4,))


def test_protocol_error_dispatches():
    target, predicted = random_poses(21), random_poses(22)
    mpjpe, p_mpjpe = metrics.mpjpe(predicted, target), metrics.p_mpjpe(predicted, target)
    np.testing.assert_array_equal(metrics.protocol_error(1, predicted, target), mpjpe)
    np.testing.assert_array_equal(metrics.protocol_error(2, predicted, target), p_mpjpe)
    np.testing.assert_array_equal(metrics.protocol_error(3, predicted, target), mpjpe)


@pytest.mark.parametrize('protocol', [0, 4, '1'])
def test_unknown_protocol_is_rejected(protocol):
    with pytest.raises(ValueError, match=rf"protocol must be one of \[1, 2, 3\], got {protocol!r}"):
        metrics.protocol_cameras(protocol)
    with pytest.raises(ValueError, match='protocol must be one of'):
        metrics.protocol_error(protocol, np.zeros((1, 17, 3)), np.zeros((1, 17, 3)))


# --- Shape errors ------------------------------------------------------------------------

def test_pose_shape_errors():
    poses = np.zeros((4, NUM_JOINTS, 3))
    with pytest.raises(ValueError, match=r'predicted and target must have the same shape, '
                                         r'got \(4, 17, 3\) and \(4, 16, 3\)'):
        metrics.mpjpe(poses, poses[:, 1:])
    with pytest.raises(ValueError, match=r'target must have shape \(..., J, 3\), got \(4, 17, 2\)'):
        metrics.p_mpjpe(poses, poses[..., :2])
    with pytest.raises(ValueError, match=r'root must lie in \[0, 17\), got 17'):
        metrics.mpjpe(poses, poses, root=17)
    with pytest.raises(ValueError, match=r'predicted must have shape \(..., J, 3\), got \(3,\)'):
        metrics.per_joint_errors(np.zeros(3), np.zeros(3))
