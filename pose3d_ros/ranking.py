"""Pairwise depth ranking (DRPose3D section 3.1, eq. 1)."""
import numpy as np

BEHIND, FRONT, TIE = 1.0, 0.0, 0.5


def ranking_matrix(depths, tie_mm):
    """Ground-truth ranking matrix M from camera-frame depths (eq. 1).

    depths: (..., N) distances along the optical axis, in millimetres.
    Returns (..., N, N) float32 with M_ij = 1 where joint i is more than `tie_mm` behind joint j,
    0 where it is more than `tie_mm` in front, 0.5 otherwise (the diagonal included).
    """
    depths = np.asarray(depths, dtype=np.float64)
    difference = depths[..., :, None] - depths[..., None, :]
    matrix = np.full(difference.shape, TIE, dtype=np.float32)
    matrix[difference > tie_mm] = BEHIND
    matrix[difference < -tie_mm] = FRONT
    return matrix


def probabilities_from_scores(scores):
    """PRCNN's (..., N) depth scores F -> (..., N, N) P_ij = sigmoid(F_i - F_j), i behind j."""
    scores = np.asarray(scores, dtype=np.float32)
    return (1 / (1 + np.exp(scores[..., None, :] - scores[..., :, None]))).astype(np.float32)


def discretize(probabilities, tie_band):
    """Discretize predicted P into BEHIND / FRONT / TIE with a band of half-width tie_band around 0.5."""
    if not 0.0 <= tie_band <= 0.5:
        raise ValueError(f'tie_band must lie in [0, 0.5], got {tie_band}')
    probabilities = np.asarray(probabilities, dtype=np.float32)
    ranking = np.full(probabilities.shape, TIE, dtype=np.float32)
    ranking[probabilities > 0.5 + tie_band] = BEHIND
    ranking[probabilities < 0.5 - tie_band] = FRONT
    return ranking


def behind_front_edges(ranking):
    """Directed edges (i, j), joint i behind joint j, of an (N, N) discretized ranking."""
    rows, cols = np.nonzero(np.asarray(ranking) == BEHIND)
    return list(zip(rows.tolist(), cols.tolist()))


def depth_order(depths):
    """(..., N) depths -> (..., N) rank of each joint along z: 1 = nearest ... N = farthest.

    Equal depths keep joint order (a stable sort), so the result is always a permutation.
    """
    order = np.argsort(np.asarray(depths), axis=-1, kind='stable')
    return np.argsort(order, axis=-1, kind='stable') + 1


def coarse_depth_target(depths):
    """DepthNet's target O (DRPose3D 3.2): the depth order, normalized to mean 0 and std 1.

    Every permutation of 1..N has mean (N + 1) / 2 and std sqrt((N^2 - 1) / 12), so this
    per-pose normalization equals normalizing with the training set's statistics.
    """
    ranks = depth_order(depths).astype(np.float32)
    count = ranks.shape[-1]
    return (ranks - (count + 1) / 2) / np.sqrt((count ** 2 - 1) / 12)
