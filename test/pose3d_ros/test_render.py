import numpy as np
import pytest

from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES
from pose3d_ros.render import Appearance, body_axes, render_person

J = {name: index for index, name in enumerate(JOINT_NAMES)}
D = {name: int(np.searchsorted(DETECTED_JOINTS, index)) for name, index in J.items() if index in DETECTED_JOINTS}

# A standing person (world-like axes in the camera frame: x right, y down, z away), mm.
STANDING = np.array([
    [0, 0, 0], [-100, 0, 0], [-100, 450, 0], [-100, 880, 0], [100, 0, 0], [100, 450, 0], [100, 880, 0],
    [0, -230, 0], [0, -480, 0], [0, -560, -60], [0, -700, 0], [170, -450, 0], [190, -180, 0],
    [200, 60, 0], [-170, -450, 0], [-190, -180, 0], [-200, 60, 0]], dtype=np.float64)


def turned(pose, degrees, distance=4000.0):
    """The pose turned about the vertical axis and placed `distance` mm in front of the camera."""
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    return pose @ rotation.T + [0, 0, distance]


def test_the_same_seed_gives_the_same_image_and_another_seed_another():
    pose = turned(STANDING, 30)
    first = render_person(np.random.default_rng(7), pose, 64)
    again = render_person(np.random.default_rng(7), pose, 64)
    other = render_person(np.random.default_rng(8), pose, 64)
    assert first.image.shape == (64, 64, 3) and first.image.dtype == np.uint8
    assert np.array_equal(first.image, again.image) and np.array_equal(first.joints_2d, again.joints_2d)
    assert not np.array_equal(first.image, other.image)


def test_joints_project_inside_the_crop_with_their_depths():
    pose = turned(STANDING, 0)
    rendering = render_person(np.random.default_rng(0), pose, 96)
    assert np.all((rendering.joints_2d > 0) & (rendering.joints_2d < 95))
    np.testing.assert_allclose(rendering.depths, pose[DETECTED_JOINTS, 2], atol=1e-3)
    # The person's left is on the image's right when the person faces the camera (-z).
    assert rendering.joints_2d[D['l_shoulder'], 0] > rendering.joints_2d[D['r_shoulder'], 0]


def test_a_side_view_hides_the_far_arm_behind_the_torso():
    # Turned 90 degrees the left side faces the camera and the right arm hangs behind the body.
    pose = turned(STANDING, 90)
    assert pose[J['r_wrist'], 2] > pose[J['l_wrist'], 2]
    pose[J['r_wrist'], 0] = pose[J['hip'], 0]  # straight behind the pelvis
    rendering = render_person(np.random.default_rng(1), pose, 128)
    assert rendering.visible[D['l_wrist']]
    assert not rendering.visible[D['r_wrist']]
    assert rendering.visible[D['head']]


def test_body_axes_face_where_the_chest_faces():
    forward, up = body_axes(turned(STANDING, 0))
    np.testing.assert_allclose(forward, [0, 0, -1], atol=1e-9)  # towards the camera
    np.testing.assert_allclose(up, [0, -1, 0], atol=1e-9)
    forward, _ = body_axes(turned(STANDING, 180))
    assert forward[2] == pytest.approx(1.0)


def test_appearance_draws_differ_and_stay_in_range():
    rng = np.random.default_rng(0)
    looks = [Appearance.sample(rng) for _ in range(20)]
    albedo = np.stack([look.albedo for look in looks])
    assert albedo.min() >= 0 and albedo.max() <= 1 and albedo.std(0).min() > 0
    assert all(abs(np.linalg.norm(look.light) - 1) < 1e-6 for look in looks)
