"""Evaluation metrics: Human3.6M protocols #1-#3, per-action tables, ranking accuracy, PCKh.

Poses are (..., J, 3) arrays in millimetres, joints in the canonical order of pose3d_ros.skeleton
(or a documented subset of it, e.g. DETECTED_JOINTS, whose index 0 is still the root). Every
function is vectorized over the leading (frame) axes.
"""
import numpy as np

from pose3d_ros.ranking import BEHIND, FRONT, TIE
from pose3d_ros.skeleton import ROOT
from training.datasets.h36m import ACTIONS

# Protocol -> (train cameras, test cameras). Subjects are the same for all three protocols:
# S1, S5, S6, S7, S8 for training, S9 and S11 for testing.
PROTOCOL_CAMERAS = {
    1: ((1, 2, 3, 4), (1, 2, 3, 4)),
    2: ((1, 2, 3, 4), (1, 2, 3, 4)),
    3: ((1, 2, 3), (4,)),
}


def _check_poses(predicted, target, dims=3):
    """Both arrays as float64, checked to be the same (..., J, dims) shape."""
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    for name, poses in (('predicted', predicted), ('target', target)):
        if poses.ndim < 2 or poses.shape[-1] != dims or poses.shape[-2] == 0:
            raise ValueError(f'{name} must have shape (..., J, {dims}), got {poses.shape}')
    if predicted.shape != target.shape:
        raise ValueError(
            f'predicted and target must have the same shape, got {predicted.shape} and {target.shape}')
    return predicted, target


def _root_aligned_distances(predicted, target, root):
    """(..., J) distances in mm after moving each pose's root joint to the origin."""
    predicted, target = _check_poses(predicted, target)
    num_joints = predicted.shape[-2]
    if not 0 <= root < num_joints:
        raise ValueError(f'root must lie in [0, {num_joints}), got {root}')
    predicted = predicted - predicted[..., root:root + 1, :]
    target = target - target[..., root:root + 1, :]
    return np.linalg.norm(predicted - target, axis=-1)


def mpjpe(predicted, target, root=ROOT):
    """Protocol #1: mean per-joint position error (mm) after aligning the root joints.

    predicted, target: (..., J, 3) in mm. Returns (...) per-frame errors, e.g. (F,).
    """
    return _root_aligned_distances(predicted, target, root).mean(axis=-1)


def per_joint_errors(predicted, target, root=ROOT):
    """Root-aligned position error of each joint (mm), averaged over all frames: (..., J, 3) -> (J,).

    The root's own error is 0 by construction.
    """
    distances = _root_aligned_distances(predicted, target, root)
    return distances.reshape(-1, distances.shape[-1]).mean(axis=0)


def procrustes_align(predicted, target):
    """Similarity transform (rotation, uniform scale, translation) of predicted onto target.

    predicted, target: (..., J, 3). Returns the aligned predicted poses, (..., J, 3): each pose is
    the least-squares fit s * predicted @ R + t with R a proper rotation (det +1), never a
    reflection, so a mirrored pose keeps its error.
    """
    predicted, target = _check_poses(predicted, target)
    predicted_mean = predicted.mean(axis=-2, keepdims=True)
    target_mean = target.mean(axis=-2, keepdims=True)
    predicted_centred = predicted - predicted_mean
    target_centred = target - target_mean

    # Row-vector poses: minimize |P R - T|^2  <=>  maximize trace(R^T H), H = P^T T = U S V^T.
    covariance = np.swapaxes(predicted_centred, -1, -2) @ target_centred
    u, singular_values, vt = np.linalg.svd(covariance)
    # The best rotation is U V^T; where that is a reflection, the best proper rotation flips the
    # direction of the smallest singular value (Umeyama 1991).
    sign = np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)
    u[..., :, -1] *= sign[..., None]
    singular_values[..., -1] *= sign
    rotation = u @ vt

    predicted_norm = np.sum(predicted_centred ** 2, axis=(-2, -1))
    # A prediction collapsed onto one point has no scale to fit: it aligns to the target centroid.
    scale = np.divide(singular_values.sum(axis=-1), predicted_norm,
                      out=np.zeros_like(predicted_norm), where=predicted_norm > 0)
    return scale[..., None, None] * (predicted_centred @ rotation) + target_mean


def p_mpjpe(predicted, target):
    """Protocol #2: mean per-joint position error (mm) after Procrustes alignment of each pose.

    predicted, target: (..., J, 3) in mm. Returns (...) per-frame errors, e.g. (F,). The alignment
    (procrustes_align) minimizes the squared error; the reported number is the mean distance.
    """
    aligned = procrustes_align(predicted, target)
    return np.linalg.norm(aligned - np.asarray(target, dtype=np.float64), axis=-1).mean(axis=-1)


def per_action_mean(errors, actions):
    """Mean error per action and the table's average.

    errors: (F,) per-frame errors (mm); actions: (F,) action names, each one of ACTIONS.
    Returns (per_action, average): per_action maps each action that has frames to the mean of its
    frames' errors, in ACTIONS order; average is the MEAN OVER ACTIONS of those per-action means
    (the "Avg." column of the papers' tables), not the mean over all frames, so every action
    weighs the same however many frames it has. Actions without frames are left out of both.
    """
    errors = np.asarray(errors, dtype=np.float64)
    actions = np.asarray(actions)
    if errors.ndim != 1 or errors.size == 0:
        raise ValueError(f'errors must have shape (F,) with F > 0, got {errors.shape}')
    if actions.shape != errors.shape:
        raise ValueError(
            f'actions must have the same shape as errors {errors.shape}, got {actions.shape}')
    names, index = np.unique(actions, return_inverse=True)
    unknown = sorted(set(names.tolist()) - set(ACTIONS))
    if unknown:
        raise ValueError(f'actions must be Human3.6M actions {ACTIONS}, got {unknown}')
    means = np.bincount(index, weights=errors) / np.bincount(index)
    mean_of = dict(zip(names.tolist(), means.tolist()))
    per_action = {action: mean_of[action] for action in ACTIONS if action in mean_of}
    return per_action, float(np.mean(list(per_action.values())))


def ranking_accuracy(predicted_ranking, target_ranking):
    """Accuracy of discretized ranking matrices, per joint pair and overall.

    predicted_ranking, target_ranking: (..., N, N) with entries BEHIND (1), FRONT (0) or TIE
    (0.5), e.g. ranking.discretize(P) and ranking.ranking_matrix(depths).
    Ties in the target are not scored: a frame counts for pair (i, j) only where the target says
    BEHIND or FRONT, and there a predicted TIE is wrong. A pair whose target is a tie in every frame
    (the diagonal always) has NaN accuracy.
    Returns (per_pair, overall): per_pair (N, N) is the fraction of counted frames where the
    prediction equals the target; overall is the mean of per_pair over the off-diagonal pairs
    that are not NaN (NaN if there are none).
    """
    predicted = np.asarray(predicted_ranking, dtype=np.float64)
    target = np.asarray(target_ranking, dtype=np.float64)
    for name, ranking in (('predicted_ranking', predicted), ('target_ranking', target)):
        if ranking.ndim < 2 or ranking.shape[-1] != ranking.shape[-2]:
            raise ValueError(f'{name} must have shape (..., N, N), got {ranking.shape}')
        if not np.all(np.isin(ranking, (FRONT, TIE, BEHIND))):
            raise ValueError(f'{name} entries must be {FRONT}, {TIE} or {BEHIND}')
    if predicted.shape != target.shape:
        raise ValueError(f'predicted_ranking and target_ranking must have the same shape, '
                         f'got {predicted.shape} and {target.shape}')
    num_joints = target.shape[-1]
    predicted = predicted.reshape(-1, num_joints, num_joints)
    target = target.reshape(-1, num_joints, num_joints)

    scored = target != TIE
    correct = np.sum(scored & (predicted == target), axis=0)
    counted = np.sum(scored, axis=0)
    per_pair = np.divide(correct, counted, out=np.full(counted.shape, np.nan), where=counted > 0)
    off_diagonal = per_pair[~np.eye(num_joints, dtype=bool)]
    defined = off_diagonal[~np.isnan(off_diagonal)]
    overall = float(defined.mean()) if defined.size else float('nan')
    return per_pair, overall


def mpii_head_size(head_top, upper_neck):
    """Head size (pixels) for PCKh: the distance between head top and upper neck.

    head_top, upper_neck: (..., 2). Returns (...). MPII's own evaluation uses 0.6 times the
    diagonal of an annotated head box; where only the two head keypoints are known, their distance
    is the usual stand-in, and is what this returns.
    """
    head_top = np.asarray(head_top, dtype=np.float64)
    upper_neck = np.asarray(upper_neck, dtype=np.float64)
    for name, points in (('head_top', head_top), ('upper_neck', upper_neck)):
        if points.ndim < 1 or points.shape[-1] != 2:
            raise ValueError(f'{name} must have shape (..., 2), got {points.shape}')
    if head_top.shape != upper_neck.shape:
        raise ValueError(f'head_top and upper_neck must have the same shape, '
                         f'got {head_top.shape} and {upper_neck.shape}')
    return np.linalg.norm(head_top - upper_neck, axis=-1)


def pck(predicted_2d, target_2d, reference_size, threshold=0.5, visible=None):
    """PCK: fraction of 2D joints within threshold * reference_size pixels of the target; PCKh@0.5
    with MPII's head size (mpii_head_size), LSP's PCK@0.2 with the torso size.

    predicted_2d, target_2d: (..., J, 2) pixels, e.g. (F, J, 2); NaN predictions (a person not
    found) count as wrong. reference_size: (...) pixels per frame; visible: optional (..., J)
    bool, joints to score (default all). A joint is correct when its distance is
    <= threshold * reference_size.
    Returns (per_joint, overall): per_joint (J,) fraction over the frames where that joint is
    visible (NaN where it never is); overall is the fraction over all visible joints of all
    frames (pooled, as MPII's "Mean").
    """
    predicted_2d, target_2d = _check_poses(predicted_2d, target_2d, dims=2)
    frames_shape, num_joints = predicted_2d.shape[:-2], predicted_2d.shape[-2]
    reference_size = np.asarray(reference_size, dtype=np.float64)
    if reference_size.shape != frames_shape:
        raise ValueError(f'reference_size must have shape {frames_shape}, got {reference_size.shape}')
    if np.any(~(reference_size > 0)):
        raise ValueError(f'reference_size must be positive, got minimum {reference_size.min()}')
    if threshold <= 0:
        raise ValueError(f'threshold must be positive, got {threshold}')
    if visible is None:
        visible = np.ones(frames_shape + (num_joints,), dtype=bool)
    visible = np.asarray(visible)
    if visible.shape != frames_shape + (num_joints,) or visible.dtype != bool:
        raise ValueError(f'visible must be a bool array of shape {frames_shape + (num_joints,)}, '
                         f'got {visible.dtype} {visible.shape}')

    distances = np.linalg.norm(predicted_2d - target_2d, axis=-1)
    correct = (distances <= threshold * reference_size[..., None]) & visible
    correct = correct.reshape(-1, num_joints)
    visible = visible.reshape(-1, num_joints)
    counted = visible.sum(axis=0)
    per_joint = np.divide(correct.sum(axis=0), counted, out=np.full(num_joints, np.nan),
                          where=counted > 0)
    total = counted.sum()
    overall = float(correct.sum() / total) if total else float('nan')
    return per_joint, overall


def protocol_cameras(protocol):
    """(train_cameras, test_cameras) of a Human3.6M protocol, as camera indices 1..4
    (pose3d_ros.camera.H36M_CAMERA_IDS).

    Protocols #1 and #2 train and test on all four cameras. Protocol #3 (Fang et al. 2018, "Learning
    pose grammar", as used by DRPose3D) trains on cameras 1, 2, 3 and tests on the unseen camera 4
    (60457274), measuring generalization to a new viewpoint.
    """
    if protocol not in PROTOCOL_CAMERAS or isinstance(protocol, bool):
        raise ValueError(f'protocol must be one of {sorted(PROTOCOL_CAMERAS)}, got {protocol!r}')
    return PROTOCOL_CAMERAS[protocol]


def protocol_error(protocol, predicted, target):
    """Per-frame error (mm) of a protocol: mpjpe for #1 and #3, p_mpjpe for #2. (..., J, 3) -> (...)."""
    protocol_cameras(protocol)  # validates the protocol
    if protocol == 2:
        return p_mpjpe(predicted, target)
    return mpjpe(predicted, target)
