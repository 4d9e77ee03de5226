import numpy as np
import pytest

from pose3d_ros import camera
from pose3d_ros.ranking import TIE, ranking_matrix
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, NUM_JOINTS
from training import augmentation

# Asymptotic Kolmogorov-Smirnov critical value at the 1 % level: D_n > KS_01 / sqrt(n) rejects.
KS_01 = 1.628


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov distance between the empirical CDF of `samples` and `cdf`."""
    values = cdf(np.sort(samples))
    n = len(values)
    ranks = np.arange(1, n + 1)
    return max(np.max(ranks / n - values), np.max(values - (ranks - 1) / n))


def point_to_lines_cost(point, centres, axes):
    """Sum of squared distances from (..., 3) points to the lines C_k + t d_k."""
    directions = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    offsets = np.asarray(point)[..., None, :] - centres
    along = np.sum(offsets * directions, axis=-1, keepdims=True)
    return np.sum((offsets - along * directions) ** 2, axis=(-2, -1))


# --- V_c (eq. 7) and the distance fit ---------------------------------------------------------

def test_cameras_on_a_circle_looking_at_a_point_meet_there():
    target = np.array([120.0, -340.0, 900.0])
    angles = np.linspace(0, 2 * np.pi, 4, endpoint=False) + 0.3
    centres = target + np.stack([5000 * np.cos(angles), 5000 * np.sin(angles),
                                 np.full(4, 700.0)], axis=1)
    axes = (target - centres) * np.array([[1.0], [2.5], [0.1], [7.0]])  # any length
    np.testing.assert_allclose(augmentation.virtual_camera_center(centres, axes), target,
                               rtol=0, atol=1e-9)


def test_virtual_center_minimizes_the_squared_distances_to_noisy_axes():
    rng = np.random.default_rng(1)
    target = np.array([0.0, 300.0, 400.0])
    centres = rng.normal(0, 3000, size=(5, 3))
    axes = target - centres + rng.normal(0, 400, size=(5, 3))
    center = augmentation.virtual_camera_center(centres, axes)
    best = point_to_lines_cost(center, centres, axes)
    for scale in (1e-3, 1.0, 100.0):
        perturbed = center + rng.normal(0, scale, size=(200, 3))
        assert np.all(point_to_lines_cost(perturbed, centres, axes) > best)


def test_virtual_center_rejects_parallel_axes_and_bad_shapes():
    centres = np.array([[0.0, 0, 0], [1000.0, 0, 0], [0, 1000.0, 0]])
    with pytest.raises(ValueError, match='axes are parallel'):
        augmentation.virtual_camera_center(centres, np.tile([0.0, 0.0, 1.0], (3, 1)))
    with pytest.raises(ValueError, match='axes are parallel'):
        augmentation.virtual_camera_center(centres[:2], [[0, 0, 1.0], [0, 0, -3.0]])
    with pytest.raises(ValueError, match=r'centres must have shape \(K, 3\) with K >= 2'):
        augmentation.virtual_camera_center(centres[:1], [[0, 0, 1.0]])
    with pytest.raises(ValueError, match='axes must have the shape of centres'):
        augmentation.virtual_camera_center(centres, np.eye(3)[:2])
    with pytest.raises(ValueError, match=r'axes must be non-zero, got zero rows \[1\]'):
        augmentation.virtual_camera_center(centres, [[1.0, 0, 0], [0, 0, 0], [0, 1.0, 0]])


def test_camera_distance_fit_is_the_mean_and_std_of_the_distances():
    center = np.array([10.0, 20.0, 30.0])
    directions = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0.6, 0.8]])
    centres = center + np.array([4000.0, 5000.0, 6000.0])[:, None] * directions
    mean, std = augmentation.fit_camera_distance(centres, center)
    assert mean == pytest.approx(5000.0)
    assert std == pytest.approx(np.sqrt(2 / 3) * 1000.0)
    assert augmentation.fit_camera_distance(centres[:1], center) == (pytest.approx(4000.0), 0.0)
    with pytest.raises(ValueError, match='center must be 3 finite numbers'):
        augmentation.fit_camera_distance(centres, [0.0, np.nan, 0.0])


# --- Virtual camera sampling -----------------------------------------------------------------

CENTER = np.array([50.0, 300.0, 400.0])


def test_camera_positions_are_uniform_on_the_sphere_with_normal_radii():
    count = 5000
    rng = np.random.default_rng(2)
    _, T = augmentation.sample_virtual_cameras(rng, count, CENTER, 5200.0, 450.0)
    offsets = T - CENTER
    distances = np.linalg.norm(offsets, axis=1)
    unit = offsets / distances[:, None]
    # Uniform on the sphere <=> height uniform on [-1, 1] (Archimedes) and azimuth uniform.
    assert ks_statistic(unit[:, 2], lambda z: (z + 1) / 2) < KS_01 / np.sqrt(count)
    azimuth = np.arctan2(unit[:, 1], unit[:, 0])
    assert ks_statistic(azimuth, lambda a: (a + np.pi) / (2 * np.pi)) < KS_01 / np.sqrt(count)
    # 4 standard errors: SE(mean) = std / sqrt(n), SE(std) ~ std / sqrt(2 n) for a normal.
    assert abs(distances.mean() - 5200.0) < 4 * 450.0 / np.sqrt(count)
    assert abs(distances.std() - 450.0) < 4 * 450.0 / np.sqrt(2 * count)


def standing_person(center, up):
    """A standing 17-joint pose (world mm) with its hip at `center`, growing along `up`."""
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    side = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    heights = {'r_knee': -420, 'r_foot': -820, 'l_knee': -420, 'l_foot': -820, 'spine': 250,
               'thorax': 500, 'neck_nose': 650, 'head': 800, 'l_shoulder': 500, 'l_elbow': 230,
               'l_wrist': -20, 'r_shoulder': 500, 'r_elbow': 230, 'r_wrist': -20}
    lateral = {'r_hip': -120, 'r_knee': -110, 'r_foot': -100, 'l_hip': 120, 'l_knee': 110,
               'l_foot': 100, 'l_shoulder': 180, 'l_elbow': 200, 'l_wrist': 210,
               'r_shoulder': -180, 'r_elbow': -200, 'r_wrist': -210}
    h = np.array([heights.get(name, 0.0) for name in JOINT_NAMES])
    s = np.array([lateral.get(name, 0.0) for name in JOINT_NAMES])
    return center + h[:, None] * up + s[:, None] * side


@pytest.mark.parametrize('up', [(0.0, 0.0, 1.0), (1.0, 2.0, 2.0)])
def test_sampled_cameras_look_at_the_center_and_see_people_upright(up):
    count = 2000
    R, T = augmentation.sample_virtual_cameras(np.random.default_rng(3), count, CENTER, 5200.0,
                                               450.0, up=up)
    assert R.shape == (count, 3, 3) and T.shape == (count, 3)
    up_unit = np.asarray(up) / np.linalg.norm(up)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    towards = (CENTER - T) / np.linalg.norm(CENTER - T, axis=1, keepdims=True)
    np.testing.assert_allclose(R[:, 2], towards, atol=1e-12)  # optical axis through V_c
    np.testing.assert_allclose(R[:, 0] @ up_unit, 0.0, atol=1e-12)  # x axis horizontal
    assert np.all(R[:, 1] @ up_unit < 0)  # image y points down
    # A standing person at V_c appears upright: pixel y grows downwards, so head y < feet y.
    pose = standing_person(CENTER, up)
    feet = [JOINT_NAMES.index('r_foot'), JOINT_NAMES.index('l_foot')]
    pose = np.concatenate([pose, pose[feet].mean(axis=0, keepdims=True)])  # point under the head
    pose_camera = np.einsum('nij,npj->npi', R, pose[None] - T[:, None])
    assert np.all(pose_camera[..., 2] > 0)
    pixels_y = camera.project(pose_camera, focal=(1000.0, 1000.0), center=(640.0, 360.0))[..., 1]
    head_y = pixels_y[:, JOINT_NAMES.index('head')]
    assert np.all(head_y < pixels_y[:, -1])
    # Seen from (nearly) straight above, the feet's sideways spread outweighs their height in the
    # image and either foot may land above the head; below 80 degrees of elevation both are below.
    side_view = np.abs(R[:, 2] @ up_unit) < np.sin(np.radians(80))
    assert side_view.sum() > 0.9 * count
    assert np.all(head_y[side_view, None] < pixels_y[side_view][:, feet])


def test_worked_example_camera_looking_along_plus_x():
    class AlongPlusX(np.random.Generator):
        def standard_normal(self, size=None, dtype=np.float64, out=None):
            return np.tile([-1.0, 0.0, 0.0], (size[0], 1))  # outward -X: looks along +X

    rng = AlongPlusX(np.random.PCG64(0))
    R, T = augmentation.sample_virtual_cameras(rng, 1, CENTER, 5000.0, 0.0)
    np.testing.assert_allclose(R[0], [[0, -1, 0], [0, 0, -1], [1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(T[0], CENTER - [5000.0, 0, 0])


def test_optical_axis_along_up_is_redrawn():
    class UpFirst(np.random.Generator):
        calls = 0

        def standard_normal(self, size=None, dtype=np.float64, out=None):
            draws = super().standard_normal(size)
            if UpFirst.calls == 0:
                draws[:2] = [[0.0, 0.0, 3.0], [0.0, 0.0, -0.5]]  # straight above and below V_c
            UpFirst.calls += 1
            return draws

    R, T = augmentation.sample_virtual_cameras(UpFirst(np.random.PCG64(4)), 10, CENTER, 5000.0, 0.0)
    assert UpFirst.calls == 2
    assert np.all(np.isfinite(R))
    offsets = (T - CENTER) / 5000.0
    assert np.all(np.linalg.norm(offsets[:2, :2], axis=1) > 1e-3)  # redrawn, not kept vertical
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


def test_camera_sampling_is_deterministic_for_a_seed_and_clips_the_distance():
    first = augmentation.sample_virtual_cameras(np.random.default_rng(5), 50, CENTER, 10.0, 100.0)
    second = augmentation.sample_virtual_cameras(np.random.default_rng(5), 50, CENTER, 10.0, 100.0)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    distances = np.linalg.norm(first[1] - CENTER, axis=1)
    assert distances.min() == pytest.approx(augmentation.MIN_CAMERA_DISTANCE_MM)


@pytest.mark.parametrize('kwargs, message', [
    ({'rng': 7}, 'rng must be a numpy.random.Generator, got 7'),
    ({'count': 0}, 'count must be a positive integer, got 0'),
    ({'count': 2.0}, 'count must be a positive integer, got 2.0'),
    ({'center': (0, 0)}, r'center must be 3 finite numbers, got \(0, 0\)'),
    ({'distance_mean': -1.0}, 'distance_mean must be a positive number of mm, got -1.0'),
    ({'distance_std': np.inf}, 'distance_std must be a non-negative number of mm, got inf'),
    ({'up': (0, 0, 0)}, r'up must be non-zero, got \[0.0, 0.0, 0.0\]'),
])
def test_camera_sampling_rejects_bad_arguments(kwargs, message):
    arguments = {'rng': np.random.default_rng(0), 'count': 3, 'center': CENTER,
                 'distance_mean': 5000.0, 'distance_std': 400.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        augmentation.sample_virtual_cameras(**arguments)


# --- Detection noise mixtures ----------------------------------------------------------------

JOINTS = len(DETECTED_JOINTS)
# Known mixture per joint: a tight core (70 %) and a displaced, wider component (30 %), px.
TRUE_WEIGHTS = np.array([0.7, 0.3])
OUTLIER_MEANS = np.stack([20.0 + np.arange(JOINTS), np.full(JOINTS, -15.0)], axis=1)
TRUE_MEANS = np.stack([np.zeros((JOINTS, 2)), OUTLIER_MEANS], axis=1)
TRUE_COVARIANCES = np.broadcast_to(
    np.array([[[4.0, 1.5], [1.5, 9.0]], [[25.0, -5.0], [-5.0, 16.0]]]), (JOINTS, 2, 2, 2))


def known_mixture_residuals(rng, frames):
    outlier = rng.random((frames, JOINTS)) < TRUE_WEIGHTS[1]
    component = outlier.astype(int)
    rows = np.arange(JOINTS)[None, :]
    factors = np.linalg.cholesky(TRUE_COVARIANCES)[rows, component]
    standard = rng.standard_normal((frames, JOINTS, 2))
    return TRUE_MEANS[rows, component] + np.einsum('fjce,fje->fjc', factors, standard)


@pytest.fixture(scope='module')
def residuals():
    return known_mixture_residuals(np.random.default_rng(6), 3000)


@pytest.fixture(scope='module')
def fitted(residuals):
    return augmentation.fit_detection_noise(np.random.default_rng(7), residuals, components=2)


def test_mixture_fit_recovers_the_known_components(fitted):
    assert fitted.weights.shape == (JOINTS, 2)
    order = np.argsort(-fitted.weights, axis=1)  # core first, like TRUE_*
    rows = np.arange(JOINTS)[:, None]
    weights, means = fitted.weights[rows, order], fitted.means[rows, order]
    covariances = fitted.covariances[rows, order]
    # 3000 frames: SE(weight) = sqrt(.21 / 3000) ~ 0.008; SE(mean) <= sqrt(25 / 900) ~ 0.17 px;
    # SE(variance) ~ var * sqrt(2 / n) <= 25 * 0.047 ~ 1.2 px^2. Tolerances are ~5 SE.
    np.testing.assert_allclose(weights, np.broadcast_to(TRUE_WEIGHTS, (JOINTS, 2)), atol=0.04)
    np.testing.assert_allclose(means, TRUE_MEANS, atol=0.9)
    np.testing.assert_allclose(covariances, TRUE_COVARIANCES, atol=6.0)


def test_mixture_has_the_residuals_moments_and_its_samples_reproduce_them(residuals, fitted):
    # The fit ends on an M-step, so its moments equal the data's (ddof 0) plus the floor.
    data_mean = residuals.mean(axis=0)
    centred = residuals - data_mean
    data_cov = np.einsum('fjc,fje->jce', centred, centred) / len(residuals)
    w = fitted.weights[..., None]
    model_mean = np.sum(w * fitted.means, axis=1)
    second = np.sum(w[..., None] * (fitted.covariances + fitted.means[..., :, None]
                                    * fitted.means[..., None, :]), axis=1)
    model_cov = second - model_mean[..., :, None] * model_mean[..., None, :]
    np.testing.assert_allclose(model_mean, data_mean, atol=1e-8)
    np.testing.assert_allclose(model_cov, data_cov + augmentation.COVARIANCE_FLOOR_PX2 * np.eye(2),
                               atol=1e-8)

    count = 100_000
    samples = augmentation.sample_detection_noise(np.random.default_rng(8), fitted, count)
    assert samples.shape == (count, JOINTS, 2)
    # Monte Carlo tolerances: 5 standard errors, each estimated from the samples themselves.
    mean_error = np.abs(samples.mean(axis=0) - model_mean)
    assert np.all(mean_error < 5 * samples.std(axis=0) / np.sqrt(count))
    deviations = samples - model_mean
    products = deviations[..., :, None] * deviations[..., None, :]  # (count, J, 2, 2)
    cov_error = np.abs(products.mean(axis=0) - model_cov)
    assert np.all(cov_error < 5 * products.std(axis=0) / np.sqrt(count))


def test_mixture_fit_is_deterministic_for_a_seed(residuals, fitted):
    again = augmentation.fit_detection_noise(np.random.default_rng(7), residuals, components=2)
    np.testing.assert_array_equal(again.weights, fitted.weights)
    np.testing.assert_array_equal(again.means, fitted.means)
    np.testing.assert_array_equal(again.covariances, fitted.covariances)


def test_mixture_save_load_round_trip(tmp_path, fitted):
    path = tmp_path / 'detection_noise.npz'
    fitted.save(path)
    fitted.save(path)  # replacing an existing file
    assert [p.name for p in tmp_path.iterdir()] == ['detection_noise.npz']  # no temporary left
    loaded = augmentation.DetectionNoiseModel.load(path)
    np.testing.assert_array_equal(loaded.weights, fitted.weights)
    np.testing.assert_array_equal(loaded.means, fitted.means)
    np.testing.assert_array_equal(loaded.covariances, fitted.covariances)
    np.savez(tmp_path / 'other.npz', weights=fitted.weights)
    with pytest.raises(ValueError, match=r"missing \['covariances', 'means'\]"):
        augmentation.DetectionNoiseModel.load(tmp_path / 'other.npz')


def test_mixture_functions_reject_bad_arguments(residuals, fitted):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r'residuals must have shape \(F, J, 2\), got \(10, 3\)'):
        augmentation.fit_detection_noise(rng, np.zeros((10, 3)))
    with pytest.raises(ValueError, match='at least components=3 frames, got 2'):
        augmentation.fit_detection_noise(rng, residuals[:2], components=3)
    with pytest.raises(ValueError, match='residuals must be finite'):
        augmentation.fit_detection_noise(rng, np.full((10, 2, 2), np.nan))
    with pytest.raises(ValueError, match='components must be a positive integer, got 0'):
        augmentation.fit_detection_noise(rng, residuals, components=0)
    with pytest.raises(ValueError, match='count must be a positive integer, got -1'):
        augmentation.sample_detection_noise(rng, fitted, -1)
    with pytest.raises(ValueError, match=r'means must have shape \(16, 2, 2\)'):
        augmentation.DetectionNoiseModel(fitted.weights, fitted.means[:, :, :1], fitted.covariances)
    with pytest.raises(ValueError, match='sum to 1 per joint'):
        augmentation.DetectionNoiseModel(fitted.weights * 2, fitted.means, fitted.covariances)
    with pytest.raises(ValueError, match='symmetric positive definite'):
        augmentation.DetectionNoiseModel(fitted.weights, fitted.means, -fitted.covariances)


# --- Ranking flips ---------------------------------------------------------------------------

def synthetic_rankings(seed, frames, tie_mm):
    rng = np.random.default_rng(seed)
    depths = rng.uniform(3000.0, 3400.0, size=(frames, len(DETECTED_JOINTS)))
    return ranking_matrix(depths, tie_mm)


def test_uniform_accuracy_flips_the_expected_share_and_keeps_antisymmetry():
    rankings = synthetic_rankings(9, 4000, tie_mm=20.0)
    flipped = augmentation.flip_rankings(np.random.default_rng(10), rankings, 0.91)
    assert flipped.dtype == rankings.dtype and flipped.shape == rankings.shape
    np.testing.assert_array_equal(flipped + flipped.transpose(0, 2, 1), 1.0)
    np.testing.assert_array_equal(np.diagonal(flipped, axis1=1, axis2=2), TIE)
    ties = rankings == TIE
    np.testing.assert_array_equal(flipped[ties], TIE)  # a flipped tie stays a tie
    upper = np.triu(np.ones(rankings.shape[1:], dtype=bool), k=1)
    decided = ~ties & upper
    rate = np.mean(flipped[decided] != rankings[decided])
    trials = decided.sum()
    assert trials > 300_000  # about 90 % of 4000 * 120 pairs
    assert abs(rate - 0.09) < 4 * np.sqrt(0.09 * 0.91 / trials)  # 4 binomial standard errors


def test_per_pair_accuracy_one_never_flips_and_zero_always_flips():
    rankings = synthetic_rankings(11, 500, tie_mm=0.0)  # continuous depths: no ties off-diagonal
    accuracy = np.full((NUM_JOINTS - 1, NUM_JOINTS - 1), 0.5)
    accuracy[2, 5] = accuracy[5, 2] = 1.0
    accuracy[0, 7] = accuracy[7, 0] = 0.0
    flipped = augmentation.flip_rankings(np.random.default_rng(12), rankings, accuracy)
    np.testing.assert_array_equal(flipped[:, 2, 5], rankings[:, 2, 5])
    np.testing.assert_array_equal(flipped[:, 5, 2], rankings[:, 5, 2])
    np.testing.assert_array_equal(flipped[:, 0, 7], 1 - rankings[:, 0, 7])
    np.testing.assert_array_equal(flipped[:, 7, 0], 1 - rankings[:, 7, 0])
    again = augmentation.flip_rankings(np.random.default_rng(12), rankings, accuracy)
    np.testing.assert_array_equal(again, flipped)


def test_flip_rankings_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    rankings = synthetic_rankings(13, 3, tie_mm=20.0)
    with pytest.raises(ValueError, match=r'pair_accuracy must lie in \[0, 1\]'):
        augmentation.flip_rankings(rng, rankings, 1.2)
    with pytest.raises(ValueError, match=r'pair_accuracy must lie in \[0, 1\]'):
        augmentation.flip_rankings(rng, rankings, np.nan)
    with pytest.raises(ValueError, match=r'must be a scalar or have shape \(16, 16\)'):
        augmentation.flip_rankings(rng, rankings, np.full((17, 17), 0.9))
    asymmetric = np.full((16, 16), 0.9)
    asymmetric[0, 1] = 0.5
    with pytest.raises(ValueError, match='pair_accuracy must be symmetric'):
        augmentation.flip_rankings(rng, rankings, asymmetric)
    with pytest.raises(ValueError, match=r'rankings must have shape \(F, N, N\)'):
        augmentation.flip_rankings(rng, rankings[0], 0.9)
    with pytest.raises(ValueError, match='discretized'):
        augmentation.flip_rankings(rng, rankings * 0.9, 0.9)
    broken = rankings.copy()
    broken[0, 0, 1] = broken[0, 1, 0] = 1.0
    with pytest.raises(ValueError, match='antisymmetric'):
        augmentation.flip_rankings(rng, broken, 0.9)
    with pytest.raises(ValueError, match='rng must be a numpy.random.Generator'):
        augmentation.flip_rankings(np.random.RandomState(0), rankings, 0.9)
