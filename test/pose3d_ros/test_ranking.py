import numpy as np
import pytest

from pose3d_ros import ranking


def test_ranking_matrix_follows_eq1():
    depths = np.array([1000.0, 1030.0, 1010.0])
    matrix = ranking.ranking_matrix(depths, tie_mm=20.0)
    expected = np.array([
        [0.5, 0.0, 0.5],   # 0 vs 1: 30 mm in front; 0 vs 2: 10 mm, a tie
        [1.0, 0.5, 0.5],   # 1 vs 2: 20 mm, on the band edge, a tie
        [0.5, 0.5, 0.5],
    ])
    np.testing.assert_array_equal(matrix, expected)


def test_depth_mirrored_pose_gives_the_transpose():
    rng = np.random.default_rng(0)
    depths = rng.uniform(3000, 5000, size=(50, 16))
    mirrored = 8000 - depths  # reflect every depth about z = 4000 mm
    np.testing.assert_array_equal(
        ranking.ranking_matrix(mirrored, 15.0),
        np.swapaxes(ranking.ranking_matrix(depths, 15.0), -1, -2))


def test_ranking_matrix_is_complementary():
    depths = np.random.default_rng(1).normal(4000, 300, size=(8, 16))
    matrix = ranking.ranking_matrix(depths, 10.0)
    np.testing.assert_array_equal(matrix + np.swapaxes(matrix, -1, -2), 1.0)


def test_discretize_uses_the_band_around_one_half():
    probabilities = np.array([0.0, 0.39, 0.4, 0.5, 0.6, 0.61, 1.0])
    np.testing.assert_array_equal(
        ranking.discretize(probabilities, 0.1), [0, 0, 0.5, 0.5, 0.5, 1, 1])
    with pytest.raises(ValueError, match='tie_band'):
        ranking.discretize(probabilities, 0.7)


def test_edges_point_from_behind_to_front():
    depths = np.array([3000.0, 5000.0, 4000.0])  # joint 1 farthest, joint 0 nearest
    edges = ranking.behind_front_edges(ranking.ranking_matrix(depths, 0.0))
    assert sorted(edges) == [(1, 0), (1, 2), (2, 0)]


def test_depth_order_is_a_permutation_by_depth():
    depths = np.array([[4100.0, 3900.0, 4000.0, 3900.0]])
    np.testing.assert_array_equal(ranking.depth_order(depths), [[4, 1, 3, 2]])


def test_coarse_depth_target_is_standardized_and_monotonic_in_depth():
    depths = np.random.default_rng(3).normal(4000, 200, size=(100, 16))
    target = ranking.coarse_depth_target(depths)
    np.testing.assert_allclose(target.mean(axis=-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(target.std(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.argsort(target, axis=-1), np.argsort(depths, axis=-1))
