"""Data augmentation of DRPose3D (section 3.3): virtual cameras, 2D detection noise, ranking flips.

Virtual cameras: V_c is the point closest to the optical axes of the training cameras (eq. 7);
new cameras sit uniformly on spheres around V_c with a radius drawn from a normal fitted to the
training cameras' distances, look at V_c and keep their x axis horizontal so the image is upright.
The synthesized 2D poses get detector-like noise from a per-joint Gaussian mixture fitted to
hourglass residuals in pixels (Fang et al. 2018), or to the real-camera front end's residuals on
annotated photos in torso lengths (training.fit_front_end_noise), and each synthesized ranking
entry is flipped with the probability 1 - p_ij that the ranking network gets that pair wrong.

Camera convention: pose3d_ros.camera (world mm, z up; X_cam = R @ (X - T); rows of R are the
camera's x right, y down, z forward axes in world coordinates). Randomness comes only from the
numpy.random.Generator passed in.
"""
from dataclasses import dataclass

import numpy as np

from pose3d_ros.atomic import atomic_write
from pose3d_ros.ranking import BEHIND, FRONT, TIE

# Sampled camera distances are clipped here: it only keeps radii positive, real camera rigs
# (Human3.6M: 5.2 m, std 0.45 m around V_c) never come close.
MIN_CAMERA_DISTANCE_MM = 1.0
# A sampled optical axis within this sine of the up direction has no defined horizontal x axis.
_DEGENERATE_SINE = 1e-6
# Smallest eigenvalue of sum_k (I - d_k d_k^T), per camera, below which the axes count as parallel.
_PARALLEL_TOLERANCE = 1e-9
# Added to every mixture covariance (px^2): keeps components from collapsing onto single points.
COVARIANCE_FLOOR_PX2 = 1e-2
# Units a noise model's residuals are in: image pixels, or lengths of the person's torso (a
# shoulder to the opposite hip, the LSP PCK reference) for noise that scales with the person.
NOISE_UNITS = ('pixels', 'torso')


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f'rng must be a numpy.random.Generator, got {rng!r}')


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def _vector3(name, value):
    vector = np.asarray(value, dtype=np.float64)
    if vector.shape != (3,) or not np.all(np.isfinite(vector)):
        raise ValueError(f'{name} must be 3 finite numbers, got {value!r}')
    return vector


def _normalize(vectors):
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


# --- Virtual cameras -------------------------------------------------------------------------

def virtual_camera_center(centres, axes):
    """V_c of eq. 7: the point with the least sum of squared distances to K optical axes.

    centres: (K, 3) camera centres, mm; axes: (K, 3) optical-axis directions (R[2]), any length.
    Solves sum_k (I - d_k d_k^T) V = sum_k (I - d_k d_k^T) C_k. Returns (3,) in mm.
    """
    centres = np.asarray(centres, dtype=np.float64)
    axes = np.asarray(axes, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != 3 or len(centres) < 2:
        raise ValueError(f'centres must have shape (K, 3) with K >= 2, got {centres.shape}')
    if axes.shape != centres.shape:
        raise ValueError(f'axes must have the shape of centres {centres.shape}, got {axes.shape}')
    if not (np.all(np.isfinite(centres)) and np.all(np.isfinite(axes))):
        raise ValueError('centres and axes must be finite')
    lengths = np.linalg.norm(axes, axis=1)
    if np.any(lengths == 0):
        zero_rows = np.flatnonzero(lengths == 0).tolist()
        raise ValueError(f'axes must be non-zero, got zero rows {zero_rows}')
    directions = axes / lengths[:, None]
    projectors = np.eye(3) - directions[:, :, None] * directions[:, None, :]  # (K, 3, 3)
    normal_matrix = projectors.sum(axis=0)
    # Parallel axes leave the point free to slide along them: the matrix is singular.
    if np.linalg.eigvalsh(normal_matrix)[0] < _PARALLEL_TOLERANCE * len(centres):
        raise ValueError('axes are parallel: the point closest to them is not unique')
    return np.linalg.solve(normal_matrix, np.einsum('kij,kj->i', projectors, centres))


def fit_camera_distance(centres, center):
    """Normal fit (mean, std) of the distances, mm, from (K, 3) camera centres to the (3,) center.

    std is the maximum-likelihood one (ddof 0): a single camera gives std 0.
    """
    centres = np.asarray(centres, dtype=np.float64)
    if centres.ndim != 2 or centres.shape[1] != 3 or len(centres) < 1:
        raise ValueError(f'centres must have shape (K, 3) with K >= 1, got {centres.shape}')
    if not np.all(np.isfinite(centres)):
        raise ValueError('centres must be finite')
    distances = np.linalg.norm(centres - _vector3('center', center), axis=1)
    return float(distances.mean()), float(distances.std())


def _sphere_directions(rng, count, up):
    """(count, 3) unit vectors uniform on the sphere, none within _DEGENERATE_SINE of +-up.

    Normalized isotropic Gaussian vectors are uniform on the sphere. Draws that are (anti)parallel
    to up are redrawn rather than perturbed: this only removes a null set, so the distribution
    stays uniform, and it happens with probability ~1e-12 per draw.
    """
    directions = rng.standard_normal((count, 3))
    while True:
        lengths = np.linalg.norm(directions, axis=1)
        sines = np.linalg.norm(np.cross(directions, up), axis=1) / np.maximum(lengths, 1e-300)
        bad = (lengths < 1e-12) | (sines < _DEGENERATE_SINE)
        if not bad.any():
            return directions / lengths[:, None]
        directions[bad] = rng.standard_normal((int(bad.sum()), 3))


def sample_virtual_cameras(rng, count, center, distance_mean, distance_std, up=(0.0, 0.0, 1.0)):
    """Sample `count` upright cameras looking at `center` (DRPose3D section 3.3).

    Distance ~ Normal(distance_mean, distance_std) mm, clipped at MIN_CAMERA_DISTANCE_MM; position
    uniform on the sphere of that radius around center; optical axis z towards center; x axis
    horizontal (perpendicular to `up`, the world's up direction) with y pointing down.
    Returns R (count, 3, 3), rows x, y, z, and T (count, 3) centres in world mm.
    """
    _check_rng(rng)
    count = _check_positive_int('count', count)
    center = _vector3('center', center)
    if not (np.isfinite(distance_mean) and distance_mean > 0):
        raise ValueError(f'distance_mean must be a positive number of mm, got {distance_mean!r}')
    if not (np.isfinite(distance_std) and distance_std >= 0):
        raise ValueError(f'distance_std must be a non-negative number of mm, got {distance_std!r}')
    up = _vector3('up', up)
    if not np.linalg.norm(up) > 0:
        raise ValueError(f'up must be non-zero, got {up.tolist()}')
    up = up / np.linalg.norm(up)

    distances = np.maximum(rng.normal(distance_mean, distance_std, count), MIN_CAMERA_DISTANCE_MM)
    outward = _sphere_directions(rng, count, up)
    T = center + distances[:, None] * outward
    z = -outward
    # Worked example: looking along world +X with up +Z, x = cross(+X, +Z) = -Y (image right is
    # the world's -Y: +Y is on the viewer's left) and y = cross(+X, -Y) = -Z, down.
    # In general dot(y, up) = -|cross(z, up)| < 0, and x, y, z is right-handed (det +1).
    x = _normalize(np.cross(z, up))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1), T


# --- 2D detection noise: a Gaussian mixture per joint ----------------------------------------

@dataclass
class DetectionNoiseModel:
    """Per-joint 2D Gaussian mixtures of detection residuals, in `unit` (NOISE_UNITS).

    weights (J, K) summing to 1 per joint, means (J, K, 2), covariances (J, K, 2, 2). Joints are
    in the order of the residuals they were fitted on (e.g. DETECTED_JOINTS).
    """
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    unit: str = 'pixels'

    def __post_init__(self):
        if self.unit not in NOISE_UNITS:
            raise ValueError(f'unit must be one of {NOISE_UNITS}, got {self.unit!r}')
        self.weights = np.asarray(self.weights, dtype=np.float64)
        self.means = np.asarray(self.means, dtype=np.float64)
        self.covariances = np.asarray(self.covariances, dtype=np.float64)
        if self.weights.ndim != 2:
            raise ValueError(f'weights must have shape (J, K), got {self.weights.shape}')
        joints, components = self.weights.shape
        if self.means.shape != (joints, components, 2):
            raise ValueError(f'means must have shape {(joints, components, 2)}, '
                             f'got {self.means.shape}')
        if self.covariances.shape != (joints, components, 2, 2):
            raise ValueError(f'covariances must have shape {(joints, components, 2, 2)}, '
                             f'got {self.covariances.shape}')
        if np.any(self.weights < 0) or not np.allclose(self.weights.sum(axis=1), 1.0):
            raise ValueError('weights must be non-negative and sum to 1 per joint')
        if not (np.all(np.isfinite(self.means)) and np.all(np.isfinite(self.covariances))):
            raise ValueError('means and covariances must be finite')
        variance_x, variance_y = self.covariances[..., 0, 0], self.covariances[..., 1, 1]
        covariance_xy = self.covariances[..., 0, 1]
        if (not np.allclose(covariance_xy, self.covariances[..., 1, 0]) or np.any(variance_x <= 0)
                or np.any(variance_x * variance_y - covariance_xy ** 2 <= 0)):
            raise ValueError('covariances must be symmetric positive definite')

    def save(self, path):
        """Write an .npz atomically (pose3d_ros.atomic)."""
        atomic_write(path, lambda file: np.savez(
            file, weights=self.weights, means=self.means, covariances=self.covariances, unit=self.unit))

    @classmethod
    def load(cls, path):
        """Read an .npz written by save (files without `unit` are in pixels)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {'weights', 'means', 'covariances'} - set(data.files)
                if missing:
                    raise ValueError(f'not a detection noise model, missing {sorted(missing)}')
                unit = str(data['unit']) if 'unit' in data.files else 'pixels'
                return cls(data['weights'], data['means'], data['covariances'], unit)
        except (OSError, ValueError) as error:
            raise ValueError(f'{path}: {error}') from None


def _gaussian_log_density(points, means, covariances):
    """log N(points | means, covariances) of 2D Gaussians.

    points (J, F, 2), means (J, K, 2), covariances (J, K, 2, 2) -> (J, K, F).
    """
    dx = points[:, None, :, 0] - means[:, :, None, 0]
    dy = points[:, None, :, 1] - means[:, :, None, 1]
    a, b, d = covariances[..., 0, 0], covariances[..., 0, 1], covariances[..., 1, 1]
    determinant = a * d - b * b
    precision_xx, precision_xy, precision_yy = (
        (value / determinant)[..., None] for value in (d, -b, a))
    mahalanobis = dx * (precision_xx * dx + 2 * precision_xy * dy) + precision_yy * dy * dy
    return -0.5 * mahalanobis - (0.5 * np.log(determinant) + np.log(2 * np.pi))[..., None]


def _kmeans_plus_plus(rng, points, components):
    """k-means++ seeds, per joint: points (J, F, 2) -> (J, K, 2)."""
    joints, frames, _ = points.shape
    rows = np.arange(joints)
    seeds = [points[rows, rng.integers(frames, size=joints)]]
    for _ in range(components - 1):
        chosen = np.stack(seeds, axis=1)  # (J, k, 2)
        squared = ((points[:, None] - chosen[:, :, None]) ** 2).sum(-1).min(axis=1)  # (J, F)
        cumulative = np.cumsum(squared, axis=1)
        # Inverse-CDF draw of one index per joint with probability proportional to D^2.
        target = rng.random(joints) * cumulative[:, -1]
        index = np.minimum((cumulative <= target[:, None]).sum(axis=1), frames - 1)
        seeds.append(points[rows, index])
    return np.stack(seeds, axis=1)


def _maximization(points, squares, responsibilities, floor):
    """Mixture parameters from points (J, F, 2), their products x^2, xy, y^2 (J, F, 3) and
    responsibilities (J, K, F); `floor` is added to the covariances' diagonal."""
    counts = responsibilities.sum(axis=2) + 1e-12  # (J, K); empty components stay finite
    weights = counts / counts.sum(axis=1, keepdims=True)
    means = (responsibilities @ points) / counts[..., None]
    # E[x x^T] - mu mu^T on centred points: two matrix products instead of a (J, K, F, 2) pass.
    xx, xy, yy = np.moveaxis((responsibilities @ squares) / counts[..., None], -1, 0)
    second = np.stack([np.stack([xx, xy], axis=-1), np.stack([xy, yy], axis=-1)], axis=-2)
    covariances = second - means[..., :, None] * means[..., None, :]
    return weights, means, covariances + floor * np.eye(2)


def fit_detection_noise(rng, residuals, components=3, iterations=300, tolerance=1e-6, unit='pixels',
                        covariance_floor=COVARIANCE_FLOOR_PX2):
    """Fit one 2D Gaussian mixture per joint to detection residuals by EM.

    residuals: (F, J, 2) detections minus ground truth, in `unit`. EM with full covariances (plus
    covariance_floor, unit^2, on the diagonal), seeded by k-means++ from `rng`, stops after
    `iterations` or when no joint's mean log-likelihood per frame rises by more than `tolerance`.
    Memory is about 5 * J * K * F float64 values: subsample F (1e5 frames is plenty) for whole
    datasets.
    The result ends on an M-step, so each joint's mixture has the residuals' mean exactly and
    their (ddof 0) covariance plus the floor.
    """
    _check_rng(rng)
    components = _check_positive_int('components', components)
    iterations = _check_positive_int('iterations', iterations)
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f'tolerance must be a non-negative number, got {tolerance!r}')
    residuals = np.asarray(residuals, dtype=np.float64)
    if residuals.ndim != 3 or residuals.shape[2] != 2 or residuals.shape[1] < 1:
        raise ValueError(f'residuals must have shape (F, J, 2), got {residuals.shape}')
    if residuals.shape[0] < components:
        raise ValueError(f'residuals must have at least components={components} frames, '
                         f'got {residuals.shape[0]}')
    if not np.all(np.isfinite(residuals)):
        raise ValueError('residuals must be finite (drop frames with missing detections)')

    # Centred per joint so that E[x x^T] - mu mu^T in the M-step cancels nothing large.
    offset = residuals.mean(axis=0)  # (J, 2)
    points = np.ascontiguousarray((residuals - offset).transpose(1, 0, 2))  # (J, F, 2)
    squares = np.stack([points[..., 0] ** 2, points[..., 0] * points[..., 1], points[..., 1] ** 2],
                       axis=-1)
    joints, frames, _ = points.shape
    means = _kmeans_plus_plus(rng, points, components)
    spread = np.einsum('jfc,jfe->jce', points, points) / frames + covariance_floor * np.eye(2)
    covariances = np.repeat(spread[:, None], components, axis=1)
    weights = np.full((joints, components), 1.0 / components)

    previous = np.full(joints, -np.inf)
    for _ in range(iterations):
        log_joint = np.log(weights)[..., None] + _gaussian_log_density(points, means, covariances)
        peak = log_joint.max(axis=1)
        log_total = peak + np.log(np.exp(log_joint - peak[:, None]).sum(axis=1))  # (J, F)
        responsibilities = np.exp(log_joint - log_total[:, None])
        weights, means, covariances = _maximization(points, squares, responsibilities, covariance_floor)
        likelihood = log_total.mean(axis=1)
        if np.all(likelihood - previous <= tolerance):
            break
        previous = likelihood
    return DetectionNoiseModel(weights, means + offset[:, None], covariances, unit)


def sample_detection_noise(rng, model, count):
    """Draw (count, J, 2) pixel offsets, each joint independently from its mixture."""
    _check_rng(rng)
    if not isinstance(model, DetectionNoiseModel):
        raise ValueError(f'model must be a DetectionNoiseModel, got {type(model).__name__}')
    count = _check_positive_int('count', count)
    joints, components = model.weights.shape
    cumulative = np.cumsum(model.weights, axis=1)
    chosen = (rng.random((count, joints))[..., None] >= cumulative[:, :-1]).sum(axis=-1)
    factors = np.linalg.cholesky(model.covariances)  # (J, K, 2, 2)
    rows = np.arange(joints)[None, :]
    standard = rng.standard_normal((count, joints, 2))
    return model.means[rows, chosen] + np.einsum('njce,nje->njc', factors[rows, chosen], standard)


# --- Ranking flips ---------------------------------------------------------------------------

def flip_rankings(rng, rankings, pair_accuracy):
    """Flip each synthesized pair i < j with probability 1 - p_ij (DRPose3D section 3.3).

    rankings: (F, N, N) discretized matrices (BEHIND 1, FRONT 0, TIE 0.5) with M + M^T = 1.
    pair_accuracy: (N, N) symmetric per-pair accuracies in [0, 1], or one scalar for all pairs.
    A flip maps M_ij to 1 - M_ij and M_ji stays 1 - M_ij; a flipped tie therefore stays a tie
    (it has no opposite order). The diagonal is untouched. Returns a new array, rankings' dtype.
    """
    _check_rng(rng)
    rankings = np.asarray(rankings)
    if rankings.ndim != 3 or rankings.shape[1] != rankings.shape[2]:
        raise ValueError(f'rankings must have shape (F, N, N), got {rankings.shape}')
    if not np.all(np.isin(rankings, (BEHIND, FRONT, TIE))):
        raise ValueError(f'rankings must hold only {BEHIND}, {FRONT} and {TIE} (discretized)')
    if not np.array_equal(rankings + rankings.swapaxes(1, 2), np.ones_like(rankings)):
        raise ValueError('rankings must be antisymmetric: M + M^T == 1')
    size = rankings.shape[1]
    accuracy = np.asarray(pair_accuracy, dtype=np.float64)
    if accuracy.ndim == 0:
        accuracy = np.full((size, size), float(accuracy))
    if accuracy.shape != (size, size):
        raise ValueError(f'pair_accuracy must be a scalar or have shape {(size, size)}, '
                         f'got {accuracy.shape}')
    if not np.all((accuracy >= 0) & (accuracy <= 1)):  # NaN fails too
        raise ValueError(f'pair_accuracy must lie in [0, 1], got values in '
                         f'[{np.min(accuracy)}, {np.max(accuracy)}]')
    if not np.allclose(accuracy, accuracy.T):
        raise ValueError('pair_accuracy must be symmetric: p_ij and p_ji are the same pair')

    upper_i, upper_j = np.triu_indices(size, k=1)
    upper = rankings[:, upper_i, upper_j]
    # rng.random lies in [0, 1): accuracy 1 never flips, accuracy 0 always does.
    flipped = rng.random(upper.shape) >= accuracy[upper_i, upper_j]
    upper = np.where(flipped, 1 - upper, upper).astype(rankings.dtype)
    result = rankings.copy()
    result[:, upper_i, upper_j] = upper
    result[:, upper_j, upper_i] = 1 - upper
    return result
