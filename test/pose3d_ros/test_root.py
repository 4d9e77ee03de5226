import numpy as np
import pytest

from pose3d_ros import root
from pose3d_ros.render import Appearance, render_person
from pose3d_ros.root import (ANKLE_HEIGHT_M, SCALE_STD, floor_plane, refine_with_depth, refine_with_ground,
                             root_position, scale_to_height, standing_height)
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, ROOT
from training.datasets.h36m import DEFAULT_ROOT, load_h36m


@pytest.fixture(scope='module')
def poses_m():
    """Human3.6M S9 poses in camera 1's frame, metres (every 50th frame of its recordings)."""
    if not DEFAULT_ROOT.is_dir():
        pytest.fail(f'{DEFAULT_ROOT} is missing: the shared Human3.6M copy must sit beside the checkout')
    with pytest.warns(UserWarning):
        sequences = load_h36m(DEFAULT_ROOT, [9], cameras=[1])
    return np.concatenate([s.poses_camera[::50] for s in sequences]) / 1000.0


def project(pose_m):
    return pose_m[DETECTED_JOINTS, :2] / pose_m[DETECTED_JOINTS, 2:]


def test_exact_poses_are_placed_exactly(poses_m):
    for pose in poses_m[:20]:
        root, covariance = root_position(pose - pose[ROOT], project(pose), np.ones(16))
        np.testing.assert_allclose(root, pose[ROOT], atol=1e-9)
        # Exact 2D leaves only the scale uncertainty, along the ray through the root.
        np.testing.assert_allclose(covariance, SCALE_STD ** 2 * np.outer(root, root), atol=1e-9)


def test_a_smaller_pose_stands_closer_and_a_height_prior_puts_it_back(poses_m):
    pose = poses_m[0]
    relative = pose - pose[ROOT]
    root, _ = root_position(0.9 * relative, project(pose), np.ones(16))
    np.testing.assert_allclose(root, 0.9 * pose[ROOT], rtol=1e-9)
    height = standing_height(relative)
    assert 1.6 < height < 2.0  # S9, metres
    rescaled = scale_to_height(0.9 * relative, height)
    np.testing.assert_allclose(root_position(rescaled, project(pose), np.ones(16))[0], pose[ROOT], rtol=1e-9)


def test_a_joint_far_off_stops_pulling_and_unconfident_ones_are_ignored(poses_m, monkeypatch):
    pose = poses_m[3]
    relative = pose - pose[ROOT]
    pixels_off = project(pose).copy()
    wrist = list(DETECTED_JOINTS).index(JOINT_NAMES.index('l_wrist'))
    pixels_off[wrist] += 0.2  # a wrong wrist, about two torsos off in the image
    confidence = np.ones(16)
    reweighted, _ = root_position(relative, pixels_off, confidence)
    with monkeypatch.context() as patch:
        patch.setattr(root, 'ROBUST_PASSES', 0)  # plain weighted least squares
        plain, _ = root_position(relative, pixels_off, confidence)
    pull, robust_pull = (np.linalg.norm(placed - pose[ROOT]) for placed in (plain, reweighted))
    assert pull > 0.1 and robust_pull < 0.25 * pull  # the wrist's pull is mostly reweighted away
    confidence[wrist] = 0.1  # below MIN_CONFIDENCE: not used at all
    ignored, covariance = root_position(relative, pixels_off, confidence)
    np.testing.assert_allclose(ignored, pose[ROOT], atol=1e-9)
    # Noisy 2D widens the covariance beyond the scale part.
    noisy = project(pose) + np.random.default_rng(0).normal(0, 0.005, (16, 2))
    _, noisy_covariance = root_position(relative, noisy, np.ones(16))
    assert np.all(np.diag(noisy_covariance) > np.diag(covariance))


def test_too_few_joints_or_a_person_behind_the_camera_is_not_placed(poses_m):
    pose = poses_m[0]
    confidence = np.zeros(16)
    confidence[:2] = 1.0
    assert root_position(pose - pose[ROOT], project(pose), confidence) is None
    behind = pose * np.array([1.0, 1.0, -1.0])
    assert root_position(behind - behind[ROOT], project(behind), np.ones(16)) is None
    assert root_position(pose - pose[ROOT], np.full((16, 2), np.nan), np.ones(16)) is None


def test_a_depth_image_fixes_the_scale_and_ignores_the_background(poses_m):
    pose = poses_m[5]
    focal, center, size = 600.0, np.array([320.0, 240.0]), (640, 480)
    rendering = render_person(None, pose * 1000, size, Appearance.sample(np.random.default_rng(0)),
                              intrinsics=(focal, center), background_image=np.zeros((480, 640, 3), np.float32),
                              camera_effects=False)
    depth = np.minimum(rendering.surface_mm, 6000.0) / 1000.0  # a wall 6 m out behind the person
    pixels = rendering.joints_2d.astype(np.float64)
    small = 0.85 * (pose - pose[ROOT])  # the lifter thinks the person 15 % smaller: placed 15 % too close
    root, covariance = root_position(small, (pixels - center) / focal, np.ones(16))
    assert np.linalg.norm(root - pose[ROOT]) > 0.5
    refined_pose, refined_root, refined_covariance = refine_with_depth(small, root, covariance, pixels,
                                                                       np.ones(16), depth)
    assert np.linalg.norm(refined_root - pose[ROOT]) < 0.05
    np.testing.assert_allclose(refined_pose, (pose - pose[ROOT]) * refined_root[2] / pose[ROOT, 2], atol=1e-9)
    # The depth's spread replaces the 7 % scale uncertainty along the ray.
    along = refined_root / np.linalg.norm(refined_root)
    assert along @ refined_covariance @ along < 0.1 * (along @ covariance @ along)
    # Joints off the body read the wall: they are outliers, as long as most joints stay on it.
    off_body = pixels.copy()
    off_body[:4] = [[5, 5], [600, 20], [10, 470], [630, 460]]
    assert np.linalg.norm(refine_with_depth(small, root, covariance, off_body, np.ones(16), depth)[1] - pose[ROOT]) < 0.05
    # Too few joints on a measured surface: not refined.
    unmeasured = np.full_like(depth, np.nan)
    assert refine_with_depth(small, root, covariance, pixels, np.ones(16), unmeasured) is None


def floor_under(pose, up, drop_m=0.0):
    """The plane (a, b, c, d) ANKLE_HEIGHT_M + drop_m below the pose's lower ankle, normal `up`."""
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    lower = min(up @ pose[JOINT_NAMES.index(name)] for name in ('r_foot', 'l_foot'))
    return np.array([*up, ANKLE_HEIGHT_M + drop_m - lower])


def test_the_floor_under_the_feet_corrects_the_lifters_scale(poses_m, monkeypatch):
    pose = poses_m[7]
    up = pose[JOINT_NAMES.index('head')] - pose[JOINT_NAMES.index('hip')]  # roughly up; any normal will do
    plane = floor_under(pose, up)
    small = 0.9 * (pose - pose[ROOT])  # the lifter thinks the person 10 % smaller: placed 10 % too close
    placed, covariance = root_position(small, project(pose), np.ones(16))
    refined_pose, refined_root, refined_covariance = refine_with_ground(small, placed, covariance, np.ones(16), plane)
    # Along the same ray, part of the way back: the floor's scale is fused with the lifter's.
    scale = refined_root[2] / placed[2]
    assert 1.02 < scale < 1 / 0.9 - 0.02
    np.testing.assert_allclose(refined_root, scale * placed, rtol=1e-12)
    np.testing.assert_allclose(refined_pose, scale * small, rtol=1e-12)
    along = refined_root / np.linalg.norm(refined_root)
    assert along @ refined_covariance @ along < (SCALE_STD * np.linalg.norm(refined_root)) ** 2
    # A floor known exactly (no spread of the ankle's height) places the person exactly.
    monkeypatch.setattr(root, 'ANKLE_HEIGHT_STD_M', 1e-6)
    np.testing.assert_allclose(refine_with_ground(small, placed, covariance, np.ones(16), plane)[1], pose[ROOT], atol=1e-6)


def test_a_floor_the_person_is_not_on_is_ignored(poses_m):
    pose = poses_m[7]
    up = pose[JOINT_NAMES.index('head')] - pose[JOINT_NAMES.index('hip')]
    relative = pose - pose[ROOT]
    placed, covariance = root_position(relative, project(pose), np.ones(16))
    # A floor 1 m further down (the person stands on a table or a stair): outside the gate.
    assert refine_with_ground(relative, placed, covariance, np.ones(16), floor_under(pose, up, 1.0)) is None
    # Neither ankle confident, or a camera that is not above the floor: nothing to say.
    unsure = np.ones(16)
    unsure[[list(DETECTED_JOINTS).index(JOINT_NAMES.index(name)) for name in ('r_foot', 'l_foot')]] = 0.1
    assert refine_with_ground(relative, placed, covariance, unsure, floor_under(pose, up)) is None
    assert refine_with_ground(relative, placed, covariance, np.ones(16), -floor_under(pose, up)) is None


def test_floor_planes_given_by_users_are_checked():
    np.testing.assert_array_equal(floor_plane([0, -2, 0, 2.4]), [0, -2, 0, 2.4])
    assert floor_plane([0.0, 0.0, 0.0, 0.0]) is None  # the parameters' "no floor"
    for bad, message in (([0, -1, 0], r'4 finite numbers .* got \[0, -1, 0\]'),
                         ([0, -1, float('nan'), 1], '4 finite numbers'),
                         ([0, 0, 0, 1.5], r'\[0.0, 0.0, 0.0, 1.5\] has no normal')):
        with pytest.raises(ValueError, match=message):
            floor_plane(bad)
