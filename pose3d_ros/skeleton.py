"""The project's one definition of joints: names, order, bones, flips and dataset mappings.

Canonical order: the 17-joint Human3.6M set, 0-based, as used by 3d-pose-baseline, VideoPose3D
and DRPose3D. Every array of joints in the project (messages, datasets, networks) is in this
order or is a documented subset of it given by canonical indices.
"""
import numpy as np

JOINT_NAMES = (
    'hip',          # 0, root (pelvis centre)
    'r_hip',        # 1
    'r_knee',       # 2
    'r_foot',       # 3
    'l_hip',        # 4
    'l_knee',       # 5
    'l_foot',       # 6
    'spine',        # 7
    'thorax',       # 8
    'neck_nose',    # 9
    'head',         # 10
    'l_shoulder',   # 11
    'l_elbow',      # 12
    'l_wrist',      # 13
    'r_shoulder',   # 14
    'r_elbow',      # 15
    'r_wrist',      # 16
)
NUM_JOINTS = len(JOINT_NAMES)
ROOT = JOINT_NAMES.index('hip')

# Parent of each joint in the kinematic tree (-1 for the root).
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15])
# Bones as (parent, child) pairs, in child order.
BONES = tuple((int(p), c) for c, p in enumerate(PARENTS) if p >= 0)

LEFT_RIGHT_PAIRS = ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16))
# FLIP_PERMUTATION[i] is the joint that joint i becomes in a mirrored image.
FLIP_PERMUTATION = np.arange(NUM_JOINTS)
for _left, _right in LEFT_RIGHT_PAIRS:
    FLIP_PERMUTATION[_left], FLIP_PERMUTATION[_right] = _right, _left
del _left, _right

# Indices into the 32-joint Human3.6M motion-capture skeleton (the 3D_positions files).
H36M32_TO_CANONICAL = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])

# The 16 MPII joints, in MPII order, as the stacked hourglass outputs them.
MPII_JOINT_NAMES = (
    'r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'pelvis', 'thorax',
    'upper_neck', 'head_top', 'r_wrist', 'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow',
    'l_wrist',
)
# Canonical index of each MPII joint (MPII has no spine; upper neck ~ neck/nose, head top ~ head).
MPII_TO_CANONICAL = np.array([3, 2, 1, 4, 5, 6, 0, 8, 9, 10, 16, 15, 14, 11, 12, 13])

# The joints the hourglass detects and DRPose3D ranks: all but the spine, in canonical order.
DETECTED_JOINTS = np.array([j for j in range(NUM_JOINTS) if JOINT_NAMES[j] != 'spine'])
# FLIP_PERMUTATION within DETECTED_JOINTS order (the spine mirrors onto itself, so none is lost).
DETECTED_FLIP_PERMUTATION = np.searchsorted(DETECTED_JOINTS, FLIP_PERMUTATION[DETECTED_JOINTS])


def _detected_bones():
    """BONES within DETECTED_JOINTS order; a child of the spine hangs from the spine's parent."""
    position = {int(joint): index for index, joint in enumerate(DETECTED_JOINTS)}
    bones = []
    for parent, child in BONES:
        if child in position:
            while parent not in position:
                parent = int(PARENTS[parent])
            bones.append((position[parent], position[child]))
    return tuple(bones)


# Bones as (parent, child) indices into DETECTED_JOINTS order: thorax joins the hip directly.
DETECTED_BONES = _detected_bones()
# The joints a lifter predicts relative to the root, which itself stays at the origin.
NON_ROOT_JOINTS = np.array([j for j in range(NUM_JOINTS) if j != ROOT])


def mpii_to_canonical_order(mpii_joints):
    """Reorder (..., 16, D) MPII-ordered joints into DETECTED_JOINTS order (canonical, no spine)."""
    mpii_joints = np.asarray(mpii_joints)
    if mpii_joints.shape[-2] != len(MPII_JOINT_NAMES):
        raise ValueError(
            f'expected {len(MPII_JOINT_NAMES)} MPII joints on axis -2, got shape {mpii_joints.shape}')
    mpii_index_of = np.argsort(MPII_TO_CANONICAL)  # canonical rank -> MPII index
    return mpii_joints[..., mpii_index_of, :]


def check_joint_indices(joint_indices):
    """Validate a subset of canonical joints: integers in [0, 17), strictly increasing."""
    indices = np.asarray(joint_indices, dtype=np.int64)  # signed: np.diff on uint8 wraps
    if indices.ndim != 1 or indices.size == 0:
        raise ValueError(f'joint_indices must be a non-empty 1-D list, got shape {indices.shape}')
    if indices.min() < 0 or indices.max() >= NUM_JOINTS:
        raise ValueError(f'joint_indices must lie in [0, {NUM_JOINTS}), got {indices.tolist()}')
    if np.any(np.diff(indices) <= 0):
        raise ValueError(f'joint_indices must be strictly increasing, got {indices.tolist()}')
    return indices.astype(np.uint8)


# The 14 LSP / LSP-Extended joints, in the order of their joints.mat.
LSP_JOINT_NAMES = (
    'r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'r_wrist', 'r_elbow',
    'r_shoulder', 'l_shoulder', 'l_elbow', 'l_wrist', 'neck', 'head_top',
)
# Each LSP joint's mirror-image partner (l_ <-> r_; the neck and head top stay).
LSP_FLIP_PERMUTATION = np.array([LSP_JOINT_NAMES.index({'l': 'r_', 'r': 'l_'}[name[0]] + name[2:] if name[1] == '_'
                                                       else name) for name in LSP_JOINT_NAMES])

# BlazePose's 33 landmarks (MediaPipe Pose), in the landmark model's output order. The model
# outputs 6 more: 33 and 34 place the next frame's region of interest (hip centre, and a point
# whose distance and direction from it give the body's size and rotation); 35-38 are unused.
BLAZEPOSE_LANDMARK_NAMES = (
    'nose', 'l_eye_inner', 'l_eye', 'l_eye_outer', 'r_eye_inner', 'r_eye', 'r_eye_outer',
    'l_ear', 'r_ear', 'mouth_left', 'mouth_right', 'l_shoulder', 'r_shoulder', 'l_elbow',
    'r_elbow', 'l_wrist', 'r_wrist', 'l_pinky', 'r_pinky', 'l_index', 'r_index', 'l_thumb',
    'r_thumb', 'l_hip', 'r_hip', 'l_knee', 'r_knee', 'l_ankle', 'r_ankle', 'l_heel', 'r_heel',
    'l_foot_index', 'r_foot_index',
)
BLAZEPOSE_ROI_CENTRE, BLAZEPOSE_ROI_SCALE = 33, 34
BLAZEPOSE_OUTPUT_LANDMARKS = 39
# Each of the landmark model's 39 outputs' mirror-image partner (l_ <-> r_, mouth_left <->
# mouth_right; the midline landmarks, the two ROI points and the unused four stay).
_MOUTH_PARTNERS = {'mouth_left': 'mouth_right', 'mouth_right': 'mouth_left'}
_SIDE_PARTNERS = {'l_': 'r_', 'r_': 'l_'}
BLAZEPOSE_FLIP_PERMUTATION = np.array(
    [BLAZEPOSE_LANDMARK_NAMES.index(_MOUTH_PARTNERS.get(name) or _SIDE_PARTNERS.get(name[:2], name[:2]) + name[2:])
     for name in BLAZEPOSE_LANDMARK_NAMES] + list(range(len(BLAZEPOSE_LANDMARK_NAMES), BLAZEPOSE_OUTPUT_LANDMARKS)))


# The canonical joint each LSP joint is: ankles are feet, LSP's neck is MPII's upper neck
# (neck_nose) and its head top the head; the others share their names.
LSP_TO_CANONICAL = np.array([JOINT_NAMES.index({'r_ankle': 'r_foot', 'l_ankle': 'l_foot', 'neck': 'neck_nose',
                                                'head_top': 'head'}.get(name, name)) for name in LSP_JOINT_NAMES])
# Position of each LSP joint in DETECTED_JOINTS order.
LSP_IN_DETECTED = np.searchsorted(DETECTED_JOINTS, LSP_TO_CANONICAL)


def _lsp_to_detected():
    """(16, 14) matrix: DETECTED_JOINTS from LSP joints. Each LSP joint is its canonical joint;
    the pelvis (hip) is the midpoint of the hips and the thorax that of the shoulders, as in
    MPII's annotation."""
    lsp = {name: index for index, name in enumerate(LSP_JOINT_NAMES)}
    matrix = np.zeros((len(DETECTED_JOINTS), len(LSP_JOINT_NAMES)))
    matrix[LSP_IN_DETECTED, np.arange(len(LSP_JOINT_NAMES))] = 1.0
    for joint, (first, second) in (('hip', ('r_hip', 'l_hip')), ('thorax', ('r_shoulder', 'l_shoulder'))):
        row = np.searchsorted(DETECTED_JOINTS, JOINT_NAMES.index(joint))
        matrix[row, [lsp[first], lsp[second]]] = 0.5
    return matrix


LSP_TO_DETECTED = _lsp_to_detected()


# The torso of DETECTED_JOINTS poses: each shoulder to the opposite hip (the LSP PCK reference).
TORSO_PAIRS = np.searchsorted(DETECTED_JOINTS, [[JOINT_NAMES.index(a), JOINT_NAMES.index(b)] for a, b in
                                                (('r_shoulder', 'l_hip'), ('l_shoulder', 'r_hip'))])


def torso_lengths(joints):
    """(..., 16, D) DETECTED_JOINTS -> (...) mean length of the two shoulder-to-opposite-hip lines."""
    joints = np.asarray(joints)
    return np.linalg.norm(joints[..., TORSO_PAIRS[:, 0], :] - joints[..., TORSO_PAIRS[:, 1], :], axis=-1).mean(-1)
