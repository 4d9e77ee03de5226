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
