"""Where a person is: the root (pelvis) position in the camera's optical frame, in metres.

A monocular lifter gives the pose relative to the root. The translation T that places it is the
one whose projection fits the person's 2D joints: with normalized undistorted coordinates
(u_j, v_j) and root-relative joints X_j, (X_j + T) projects onto (u_j, v_j) when

    T_x - u_j T_z = u_j X_jz - X_jx    and    T_y - v_j T_z = v_j X_jz - X_jy,

linear in T (3DMPPE and VideoPose3D's trajectory models solve the same geometry with a network).
Solved by confidence-weighted least squares, iteratively reweighted so that joints far off
(a wrong wrist, a swapped leg: the front end's gross errors) stop pulling: a Cauchy weight
1 / (1 + (e / c)^2) on each joint's image error e, with c a fraction of the person's torso in the
image. The scale of X_j is the lifter's (trained on Human3.6M adults), and T scales with it: a
person 10 % smaller than the lifter thinks stands 10 % closer. The covariance therefore adds that scale uncertainty along T to the least-squares one;
where the person's height is known, scale_to_height rescales the pose before solving.

Scaling pose and root together along the view rays leaves the projection unchanged, so anything
that measures the scale refines the placement: a known floor under the person's feet
(refine_with_ground, fused with the lifter's scale) or a registered depth image
(refine_with_depth, which replaces it).
"""
import numpy as np

from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, torso_lengths

# Relative standard deviation of an adult's size about the lifter's Human3.6M scale (body height
# varies about 4 % within a sex and 7 % across both).
SCALE_STD = 0.07
# Joints below this confidence do not pull the root (a consumer's threshold would be similar).
MIN_CONFIDENCE = 0.2
# Robust reweighting: the Cauchy scale as a fraction of the torso's image length (the real front
# end's median joint error is about 0.1 torso, its gross errors a torso or more), and the passes.
CAUCHY_TORSO_FRACTION = 0.3
ROBUST_PASSES = 4
# Standing height: the leg (ankle, knee, hip) and the trunk (pelvis, spine, thorax, neck, head)
# chains make about 90 % of it; the ankle above the floor and the skull above the head joint
# the rest (in proportion, so a pose scaled by s has a height scaled by s).
CHAINS_PER_HEIGHT = 0.9
_LEGS = [[JOINT_NAMES.index(f'{side}_{part}') for part in ('foot', 'knee', 'hip')] for side in 'rl']
_TRUNK = [JOINT_NAMES.index(name) for name in ('hip', 'spine', 'thorax', 'neck_nose', 'head')]


def standing_height(poses_m):
    """Height of (..., 17, 3) poses (m) if they stood straight: mean leg plus trunk chain lengths
    over CHAINS_PER_HEIGHT -> (...)."""
    poses_m = np.asarray(poses_m, np.float64)

    def chain(joints):
        return np.linalg.norm(np.diff(poses_m[..., joints, :], axis=-2), axis=-1).sum(axis=-1)
    return (np.mean([chain(leg) for leg in _LEGS], axis=0) + chain(_TRUNK)) / CHAINS_PER_HEIGHT


def scale_to_height(poses_m, body_height_m):
    """(..., 17, 3) poses rescaled to the given standing height (a body-height prior)."""
    poses_m = np.asarray(poses_m, np.float64)
    return poses_m * (body_height_m / standing_height(poses_m))[..., None, None]


def root_positions(poses_m, normalized, confidence):
    """Batched: (F, 17, 3) root-relative poses (m), their (F, 16, 2) DETECTED_JOINTS in normalized
    undistorted image coordinates and (F, 16) confidences -> (roots (F, 3) m, covariances
    (F, 3, 3) m^2), NaN for a person with fewer than 3 joints confident enough, non-finite inputs,
    or a place behind the camera."""
    poses_m, normalized = np.asarray(poses_m, np.float64), np.asarray(normalized, np.float64)
    confidence = np.asarray(confidence, np.float64)
    weights = np.where(confidence >= MIN_CONFIDENCE, confidence, 0.0)
    usable = ((np.count_nonzero(weights, axis=1) >= 3) & np.isfinite(normalized).all(axis=(1, 2))
              & np.isfinite(poses_m).all(axis=(1, 2)))
    joints = np.where(usable[:, None, None], poses_m[:, DETECTED_JOINTS], 0.0)
    u, v = (np.where(usable[:, None], normalized[..., axis], 0.0) for axis in (0, 1))
    zeros, ones = np.zeros_like(u), np.ones_like(u)
    # Rows x then y per joint: (F, 32, 3) design, (F, 32) target, (F, 32) weights.
    design = np.concatenate([np.stack([ones, zeros, -u], axis=-1), np.stack([zeros, ones, -v], axis=-1)], axis=1)
    target = np.concatenate([u * joints[..., 2] - joints[..., 0], v * joints[..., 2] - joints[..., 1]], axis=1)
    base = np.concatenate([weights, weights], axis=1) * usable[:, None]
    scale = CAUCHY_TORSO_FRACTION * np.maximum(torso_lengths(np.where(usable[:, None, None], normalized, 0.0)), 1e-6)
    w = base
    for step in range(ROBUST_PASSES + 1):
        normal = np.einsum('fri,fr,frj->fij', design, w, design) + np.eye(3) * ~usable[:, None, None]
        solvable = usable & (np.abs(np.linalg.det(normal)) > 1e-12)
        inverse = np.linalg.inv(np.where(solvable[:, None, None], normal, np.eye(3)))
        roots = np.einsum('fij,frj,fr,fr->fi', inverse, design, w, target)
        # Each row's residual is an image error times that joint's depth (about the root's).
        residual = np.einsum('fri,fi->fr', design, roots) - target
        if step == ROBUST_PASSES:
            break
        error = np.hypot(*np.split(residual, 2, axis=1)) / np.maximum(np.abs(roots[:, 2:]), 1e-6)
        robust = 1.0 / (1.0 + (error / scale[:, None]) ** 2)
        w = base * np.concatenate([robust, robust], axis=1)
    usable = solvable & (roots[:, 2] > 0)
    # The reweighted residuals' variance scales (A^T W A)^-1, plus the scale uncertainty along T.
    dof = np.maximum(np.count_nonzero(base, axis=1) - 3, 1)
    variance = (w * residual ** 2).sum(axis=1) / dof
    covariances = variance[:, None, None] * inverse + SCALE_STD ** 2 * np.einsum('fi,fj->fij', roots, roots)
    roots[~usable], covariances[~usable] = np.nan, np.nan
    return roots, covariances


def root_position(pose_m, normalized, confidence):
    """One person: (17, 3) root-relative pose (m), its (16, 2) DETECTED_JOINTS in normalized
    undistorted image coordinates and their (16,) confidences -> (root (3,) m, covariance (3, 3)
    m^2), or None when fewer than 3 joints are confident enough or the person would stand behind
    the camera."""
    roots, covariances = root_positions(np.asarray(pose_m)[None], np.asarray(normalized)[None],
                                        np.asarray(confidence)[None])
    return None if np.isnan(roots[0, 0]) else (roots[0], covariances[0])


# A depth camera sees the body's surface; a joint lies about its body part's radius behind it
# (adult anthropometry, metres): the pelvis and chest ~10 cm, the head ~9, knees and shoulders ~5,
# elbows, ankles and wrists 3-4.
SURFACE_TO_JOINT_M = dict(hip=0.10, r_hip=0.08, l_hip=0.08, r_knee=0.05, l_knee=0.05, r_foot=0.04, l_foot=0.04,
                          thorax=0.10, neck_nose=0.05, head=0.09, l_shoulder=0.05, r_shoulder=0.05,
                          l_elbow=0.04, r_elbow=0.04, l_wrist=0.03, r_wrist=0.03)
_SURFACE_OFFSETS = np.array([SURFACE_TO_JOINT_M[JOINT_NAMES[j]] for j in DETECTED_JOINTS])
# Joints whose depth reads more than this from the candidates' median (background seen past a
# thin limb, another person) are left out.
DEPTH_INLIER_M = 0.3
DEPTH_WINDOW_PX = 2  # the median of a (2 r + 1)^2 window around each joint
MIN_DEPTH_JOINTS = 3


def refine_with_depth(pose_m, root, covariance, pixels, confidence, depth_m, min_confidence=0.5):
    """A placed person refined with a registered depth image: (17, 3) root-relative pose (m), its
    root (3,) and covariance (3, 3), the (16, 2) DETECTED_JOINTS pixels (in the depth image's
    pixels) and (16,) confidences, and (H, W) depths along the optical axis (m, NaN where
    unmeasured) -> (pose, root, covariance), or None when fewer than MIN_DEPTH_JOINTS confident
    joints read a consistent depth.

    Each confident joint's depth is read (window median) and moved its SURFACE_TO_JOINT_M behind
    the surface; minus its depth relative to the root, each gives a candidate root depth. Their robust
    median fixes the scale the image alone cannot: pose and root are scaled by depth / root z
    (the projection is unchanged), and the covariance's scale part becomes the depths' spread."""
    height, width = depth_m.shape
    candidates = []
    for (x, y), joint_depth, offset, weight in zip(np.round(pixels).astype(int), pose_m[DETECTED_JOINTS, 2],
                                                   _SURFACE_OFFSETS, confidence):
        if weight < min_confidence or not (0 <= x < width and 0 <= y < height):
            continue
        window = depth_m[max(y - DEPTH_WINDOW_PX, 0):y + DEPTH_WINDOW_PX + 1,
                         max(x - DEPTH_WINDOW_PX, 0):x + DEPTH_WINDOW_PX + 1]
        measured = window[np.isfinite(window)]
        if measured.size:
            candidates.append(np.median(measured) + offset - joint_depth)
    candidates = np.asarray(candidates)
    if candidates.size < MIN_DEPTH_JOINTS:
        return None
    inliers = candidates[np.abs(candidates - np.median(candidates)) <= DEPTH_INLIER_M]
    if inliers.size < MIN_DEPTH_JOINTS:
        return None
    depth = float(np.median(inliers))
    spread = max(1.4826 * float(np.median(np.abs(inliers - depth))), 0.01)  # MAD as a std, >= 1 cm
    return rescaled(pose_m, root, covariance, depth / root[2], spread / depth)


def rescaled(pose_m, root, covariance, scale, scale_std):
    """Pose and root scaled by `scale` along the view rays (the projection unchanged), the
    covariance's scale part (SCALE_STD along the root, root_position's) replaced by the relative
    standard deviation scale_std -> (pose, root, covariance)."""
    image_part = covariance - SCALE_STD ** 2 * np.outer(root, root)
    refined_root = scale * root
    return scale * pose_m, refined_root, scale ** 2 * image_part + scale_std ** 2 * np.outer(refined_root, refined_root)


# A person on a known floor: the lower ankle joint stands about ANKLE_HEIGHT_M above it, give or
# take ANKLE_HEIGHT_STD_M (a foot lifted in a step, the lifted pose's and the 2D ankles' errors).
# Both fitted on Human3.6M's training subjects S1, S5-S8 (hourglass detections, placed minus true
# root depth unbiased at 0.09 m; the spread that placed them best), never on S9 or S11.
ANKLE_HEIGHT_M = 0.09
ANKLE_HEIGHT_STD_M = 0.07
# A floor whose scale lies further than this many standard deviations from the lifter's is not
# the one the person stands on (stairs, a table, a jump) and is ignored.
GROUND_GATE_SIGMAS = 3.0
_ANKLES = [list(DETECTED_JOINTS).index(JOINT_NAMES.index(name)) for name in ('r_foot', 'l_foot')]


def floor_plane(values):
    """A floor plane as given by a user (a, b, c, d: a x + b y + c z + d = 0 in the optical frame,
    metres, (a, b, c) pointing up) -> (4,) array, or None for all zeros (no floor); ValueError
    naming the value when it is not 4 finite numbers with a non-zero normal."""
    plane = np.asarray(values, np.float64)
    if plane.shape != (4,) or not np.all(np.isfinite(plane)):
        raise ValueError(f'a floor plane is 4 finite numbers a, b, c, d (a x + b y + c z + d = 0), got {list(values)}')
    if not plane.any():
        return None
    if not np.any(plane[:3]):
        raise ValueError(f'the floor plane {plane.tolist()} has no normal: a, b, c are all 0')
    return plane


def world_floor_plane(rotation, camera_height_m):
    """A calibrated camera's floor: the world's z = 0 plane (z up) in its optical frame, from its
    world -> camera rotation and its centre's height above the floor -> (a, b, c, d), metres."""
    return np.array([*np.asarray(rotation, np.float64)[:, 2], camera_height_m])


def ground_scales(poses_m, roots, confidence, planes):
    """Batched: how much to scale each placed person along the view rays so that the lower of
    their confident ankles stands ANKLE_HEIGHT_M above the floor, fused by inverse variance with
    the lifter's own scale (1 +- SCALE_STD). (F, 17, 3) root-relative poses (m), (F, 3) roots (m),
    (F, 16) DETECTED_JOINTS confidences, and (F, 4) or (4,) floor planes (a, b, c, d): a x + b y +
    c z + d = 0 in the optical frame, metres, (a, b, c) pointing up, as floor_plane or
    world_floor_plane give them -> (scales (F,), their relative standard deviations (F,)); NaN where
    the floor tells nothing: no root, no confident ankle, the camera not above the floor or the
    ankle not below the camera, or a scale outside the gate."""
    poses_m, roots = np.asarray(poses_m, np.float64), np.asarray(roots, np.float64)
    planes = np.broadcast_to(np.asarray(planes, np.float64), (len(roots), 4))
    length = np.linalg.norm(planes[:, :3], axis=1)
    up, height = planes[:, :3] / length[:, None], planes[:, 3] / length  # height: the camera's above the floor
    ankles = poses_m[:, DETECTED_JOINTS[_ANKLES]] + roots[:, None]
    along_up = np.einsum('fji,fi->fj', ankles, up)
    along_up[np.asarray(confidence)[:, _ANKLES] < MIN_CONFIDENCE] = np.nan
    with np.errstate(invalid='ignore', divide='ignore'):
        lower = np.fmin(along_up[:, 0], along_up[:, 1])
        floor = (ANKLE_HEIGHT_M - height) / lower
        floor_std = ANKLE_HEIGHT_STD_M / np.abs(lower)
        usable = (lower < 0) & (height > ANKLE_HEIGHT_M) & np.isfinite(roots).all(axis=1) & (
            np.abs(floor - 1) <= GROUND_GATE_SIGMAS * np.hypot(SCALE_STD, floor_std))
        weight_lifter, weight_floor = SCALE_STD ** -2, floor_std ** -2
        scales = (weight_lifter + weight_floor * floor) / (weight_lifter + weight_floor)
        stds = (weight_lifter + weight_floor) ** -0.5
    return np.where(usable, scales, np.nan), np.where(usable, stds, np.nan)


def refine_with_ground(pose_m, root, covariance, confidence, plane):
    """A placed person refined with the floor they stand on (ground_scales: (17, 3) root-relative
    pose (m), root (3,), covariance (3, 3), (16,) DETECTED_JOINTS confidences, plane (a, b, c, d))
    -> (pose, root, covariance), or None when the floor tells nothing."""
    scales, stds = ground_scales(np.asarray(pose_m)[None], np.asarray(root)[None], np.asarray(confidence)[None], plane)
    return None if np.isnan(scales[0]) else rescaled(pose_m, root, covariance, scales[0], stds[0])
