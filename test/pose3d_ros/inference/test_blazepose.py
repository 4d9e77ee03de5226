"""The BlazePose front end's geometry, decoding and tracking with stand-in networks that find
"people" drawn as a white disc (the body) with a small disc beside it (the head)."""
import json

import cv2
import numpy as np
import pytest

from pose3d_ros import skeleton
from pose3d_ros.crop import crop_to_image
from pose3d_ros.inference import blazepose
from pose3d_ros.inference.blazepose import (ANCHOR_CENTRES, BlazePoseFrontEnd, FrontEndSettings, JointRegressor, Roi,
                                            decode_detections, depth_probabilities, refine_from_heatmaps,
                                            weighted_nms)
from pose3d_ros.inference.networks import DETECTOR_INPUT, LANDMARK_INPUT
from pose3d_ros.ranking import discretize, ranking_matrix

RADIUS = 20


def discs(shape, centres, radius=RADIUS, up=(0.0, -1.0)):
    """An image of people: a disc each, with a head a fifth its size on the `up` side."""
    image = np.zeros(shape, np.uint8)
    for centre in np.asarray(centres, np.float64):
        cv2.circle(image, tuple(np.round(centre).astype(int)), radius, (255, 255, 255), -1)
        head = centre + (1.5 * radius) * np.asarray(up)
        cv2.circle(image, tuple(np.round(head).astype(int)), radius // 5, (255, 255, 255), -1)
    return image


def bodies(image_nchw):
    """(centre, radius, unit vector to the head) of every person in a (1, 3, S, S) network input,
    in its pixels."""
    mask = (image_nchw[0, 0] > 0.5).astype(np.uint8)
    count, _, stats, centres = cv2.connectedComponentsWithStats(mask)
    radii = np.sqrt(stats[1:, cv2.CC_STAT_AREA] / np.pi)
    if count < 2:
        return []
    big = radii > radii.max() / 2
    heads = centres[1:][~big]
    found = []
    for centre, radius in zip(centres[1:][big], radii[big]):
        if len(heads):
            head = heads[np.argmin(np.linalg.norm(heads - centre, axis=1))]
            found.append((centre, radius, (head - centre) / np.linalg.norm(head - centre)))
    return found


class DiscDetector:
    """Detector stand-in that, like BlazePose's, finds only people whose head is up and who are
    not too small in its input: a confident anchor each, the hip centre at the body's centre and
    the size point 3 radii towards the head."""

    smallest_radius = 6.0

    def __init__(self):
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        regressions = np.zeros((1, len(ANCHOR_CENTRES), 12), np.float32)
        scores = np.full((1, len(ANCHOR_CENTRES)), 0.01, np.float32)
        for centre, radius, up in bodies(image):
            if up[1] > -0.7 or radius < self.smallest_radius:  # head not up, or too small to see
                continue
            anchor = int(np.argmin(np.linalg.norm(ANCHOR_CENTRES * DETECTOR_INPUT - centre, axis=1)))
            offset = centre - ANCHOR_CENTRES[anchor] * DETECTOR_INPUT
            keypoints = [offset, offset + 3 * radius * up, offset, offset]
            regressions[0, anchor] = np.concatenate([offset, [2 * radius, 2 * radius], *keypoints])
            scores[0, anchor] = 0.95
        return regressions, scores


class DiscLandmarks:
    """Landmark stand-in: the person nearest the crop's centre, whichever way up; all landmarks on
    a ring around the body, the ROI landmarks at its centre and 3 radii towards the head;
    presence 0 without one."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        landmarks = np.zeros((1, 39, 5), np.float32)
        world = np.zeros((1, 39, 3), np.float32)
        heatmaps = np.full((1, 39, 64, 64), -10.0, np.float32)  # no refinement
        found = bodies(image)
        if not found:
            return landmarks, np.zeros(1, np.float32), heatmaps, world
        centre, radius, up = min(found, key=lambda body: np.linalg.norm(body[0] - LANDMARK_INPUT / 2))
        angles = np.linspace(0, 2 * np.pi, 33, endpoint=False)
        landmarks[0, :33, 0] = centre[0] + radius * np.cos(angles)
        landmarks[0, :33, 1] = centre[1] + radius * np.sin(angles)
        landmarks[0, 33, :2] = centre
        landmarks[0, 34, :2] = centre + 3 * radius * up
        landmarks[0, :, 3:] = 0.9
        world[0, :33, 2] = np.linspace(-0.5, 0.5, 33)  # landmark k is nearer than landmark k + 1
        return landmarks, np.ones(1, np.float32), heatmaps, world


@pytest.fixture(scope='module')
def same_name_regressor(tmp_path_factory):
    """A regressor file whose LSP joints are the landmarks of the same name (neck, head top: nose)."""
    landmark = {name: k for k, name in enumerate(skeleton.BLAZEPOSE_LANDMARK_NAMES)}
    weights = np.zeros((len(skeleton.LSP_JOINT_NAMES), len(landmark)))
    for row, name in enumerate(skeleton.LSP_JOINT_NAMES):
        weights[row, landmark.get(name, landmark['nose'])] = 1.0
    path = tmp_path_factory.mktemp('regressor') / 'regressor.json'
    path.write_text(json.dumps({'landmarks': skeleton.BLAZEPOSE_LANDMARK_NAMES, 'joints': skeleton.LSP_JOINT_NAMES,
                                'weights': weights.tolist()}))
    return JointRegressor(path)


def front_end(regressor, **settings):
    detector, landmarks = DiscDetector(), DiscLandmarks()
    return BlazePoseFrontEnd(detector, landmarks, FrontEndSettings(**settings), regressor), detector, landmarks


def hip_centres(people):
    return np.array([person.landmarks.hip_centre for person in people])


# --- pieces -----------------------------------------------------------------------------------

def test_anchors_are_mediapipes_2254_in_feature_map_order():
    assert ANCHOR_CENTRES.shape == (2254, 2)
    np.testing.assert_allclose(ANCHOR_CENTRES[0], [0.5 / 28] * 2)       # stride 8: 28 x 28 cells, 2 each
    np.testing.assert_allclose(ANCHOR_CENTRES[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(ANCHOR_CENTRES[1568], [0.5 / 14] * 2)    # stride 16: 14 x 14, 2 each
    np.testing.assert_allclose(ANCHOR_CENTRES[1960:1966], [[0.5 / 7] * 2] * 6)  # 3 layers of stride 32: 6 each
    np.testing.assert_allclose(ANCHOR_CENTRES[-1], [6.5 / 7] * 2)


def test_roi_from_alignment_is_upright_for_a_standing_person_and_turns_with_them():
    upright = Roi.from_alignment((100.0, 200.0), (100.0, 120.0))
    assert upright.rotation == pytest.approx(0.0) and upright.side == pytest.approx(2 * 1.25 * 80)
    lying = Roi.from_alignment((100.0, 200.0), (180.0, 200.0))  # head to the right: turned a quarter clockwise
    assert lying.rotation == pytest.approx(np.pi / 2)
    # the crop's "up" is the direction of the size point in the image
    transform = lying.transform(LANDMARK_INPUT)
    top_middle = crop_to_image(np.array([(LANDMARK_INPUT - 1) / 2, 0.0]), transform)
    assert top_middle[0] > 100 + lying.side * 0.45 and top_middle[1] == pytest.approx(200.0)


def test_weighted_nms_averages_overlapping_detections_by_score():
    boxes = np.array([[0.0, 0, 10, 10], [1.0, 0, 11, 10], [50.0, 50, 60, 60]])
    keypoints = np.array([[[5.0, 5.0]], [[7.0, 5.0]], [[55.0, 55.0]]])
    results = weighted_nms(np.array([0.9, 0.6, 0.8]), boxes, keypoints, 0.3)
    assert [score for score, _, _ in results] == [0.9, 0.8]
    np.testing.assert_allclose(results[0][1], [0.4, 0, 10.4, 10])
    np.testing.assert_allclose(results[0][2], [[5.8, 5.0]])


def test_detections_decode_to_image_pixels_through_the_letterbox():
    image = discs((300, 500, 3), [(120.0, 200.0)], up=(1.0, 0.0))  # lying, head to the right
    for turns in (0, 1):  # upright crop: not found; turned a quarter clockwise: head up, found
        roi = Roi.whole_image(image.shape, turns)
        crop = cv2.warpAffine(image, roi.transform(DETECTOR_INPUT), (DETECTOR_INPUT, DETECTOR_INPUT))
        regressions, scores = DiscDetector()(crop.transpose(2, 0, 1)[None] / 255.0)
        found = decode_detections(regressions[0], scores[0], roi, 0.5)
    assert len(decode_detections(regressions[0], scores[0], roi, 0.99)[0]) == 0
    (score,), (box,), (keypoints,) = found
    assert score == pytest.approx(0.95)
    np.testing.assert_allclose(keypoints[0], (120, 200), atol=1.5)
    np.testing.assert_allclose(keypoints[1], (120 + 3 * RADIUS, 200), atol=3)  # the size point, towards the head
    np.testing.assert_allclose(box[2:] - box[:2], 2 * RADIUS, rtol=0.1)


def test_heatmap_refinement_moves_to_the_weighted_mean_cell_only_when_confident():
    logits = np.full((2, 64, 64), -10.0)
    logits[0, 20, 30] = logits[0, 20, 31] = 10.0  # two confident cells
    points = np.array([[30 * 4.0, 21 * 4.0], [10.0, 10.0]])
    refined = refine_from_heatmaps(points, logits)
    np.testing.assert_allclose(refined[0], [30.5 * 4, 20 * 4], atol=0.01)
    np.testing.assert_array_equal(refined[1], points[1])  # window peak under 0.5: kept


def test_depth_probabilities_discretize_to_eq1_with_its_ties():
    depths = np.array([0.0, 10.0, 25.0, -30.0, 19.9])
    probabilities = depth_probabilities(depths, tie_mm=20.0, tie_band=0.1)
    np.testing.assert_array_equal(discretize(probabilities, 0.1)[~np.isclose(np.abs(depths[:, None] - depths), 20.0)],
                                  ranking_matrix(depths, 20.0)[~np.isclose(np.abs(depths[:, None] - depths), 20.0)])
    np.testing.assert_allclose(probabilities + probabilities.T, 1.0, atol=1e-6)
    with pytest.raises(ValueError, match='tie_band must lie in'):
        depth_probabilities(depths, 20.0, 0.0)


def test_joint_regressor_files_are_checked(tmp_path):
    path = tmp_path / 'regressor.json'
    path.write_text('{"weights": [[1]]}')
    with pytest.raises(ValueError, match=r'regressor\.json: not a joint regressor file'):
        JointRegressor(path)
    path.write_text(json.dumps({'landmarks': skeleton.BLAZEPOSE_LANDMARK_NAMES, 'joints': skeleton.LSP_JOINT_NAMES,
                                'weights': np.zeros((14, 30)).tolist()}))
    with pytest.raises(ValueError, match=r'regressor\.json: expects weights of shape \(14, 33\)'):
        JointRegressor(path)


# --- people and tracking ----------------------------------------------------------------------

def test_two_people_get_ids_and_keep_them_while_tracked(same_name_regressor):
    frames, detector, landmarks = front_end(same_name_regressor, redetect_interval=100)
    centres = np.array([[150.0, 200.0], [400.0, 220.0]])
    people = frames.people(discs((480, 640, 3), centres))
    assert [person.id for person in people] == [0, 1]
    np.testing.assert_allclose(hip_centres(people), centres, atol=1.0)
    for step in range(1, 4):  # both walk right: tracked from their ROIs, no detection
        moved = centres + (8.0 * step, 3.0 * step)
        people = frames.people(discs((480, 640, 3), moved))
        assert [person.id for person in people] == [0, 1]
        np.testing.assert_allclose(hip_centres(people), moved, atol=1.0)
    assert detector.calls == len(frames.detector.views((480, 640)))  # one full search, every view once
    person = people[0]
    assert person.joints_2d.shape == (16, 2) and person.ranking.shape == (16, 16)
    np.testing.assert_allclose(person.confidence, 0.9, atol=1e-6)
    np.testing.assert_allclose(person.box[2:] - person.box[:2], 2 * RADIUS, atol=1.5)


def test_nobody_in_view_gives_nobody_and_a_returning_person_gets_their_id_back(same_name_regressor):
    frames, _, _ = front_end(same_name_regressor)
    assert frames.people(discs((480, 640, 3), [(150.0, 200.0), (400.0, 220.0)]))[1].id == 1
    assert [person.id for person in frames.people(discs((480, 640, 3), [(150.0, 200.0)]))] == [0]
    assert frames.people(np.zeros((480, 640, 3), np.uint8)) == []
    back = frames.people(discs((480, 640, 3), [(405.0, 222.0)]))
    assert [person.id for person in back] == [1]
    image = discs((480, 640, 3), [(405.0, 222.0), (100.0, 400.0)])
    for _ in range(frames.settings.redetect_interval * len(frames.detector.views(image.shape))):
        newcomer = frames.people(image)  # newcomer searches look at one view in turn
        if len(newcomer) == 2:
            break
    assert [person.id for person in newcomer] == [1, 2]


def test_searches_look_at_every_view_only_on_the_first_frame_and_after_a_loss(same_name_regressor):
    frames, detector, _ = front_end(same_name_regressor, redetect_interval=2)
    image = discs((480, 640, 3), [(150.0, 200.0)])
    frames.people(image)
    views = len(frames.detector.views(image.shape))
    assert detector.calls == views  # the first frame: a full search
    for _ in range(2 * views):
        frames.people(image)
    assert detector.calls == 2 * views  # newcomers: one view every other frame
    frames.people(np.zeros_like(image))
    assert detector.calls == 3 * views  # the person is lost: a full search
    frames.people(np.zeros_like(image))
    assert detector.calls == 3 * views + 2  # nobody in view: the upright frame and one view in turn


def test_the_detector_looks_at_tiles_for_people_too_small_for_the_whole_frame(same_name_regressor):
    small = discs((1600, 1600, 3), [(400.0, 400.0), (1200.0, 1300.0)], radius=40)  # whole: 5.6 px, tile: 9 px
    for count, found in ((1, 0), (2, 2)):
        frames, _, _ = front_end(same_name_regressor, detector_tiles=count, full_image_fallback=False)
        assert len(frames.people(small)) == found


def test_part_of_a_tracked_body_taken_for_someone_else_is_not_a_new_person(same_name_regressor):
    frames, _, landmarks = front_end(same_name_regressor, full_image_fallback=False, refine_passes=0)
    image = discs((480, 640, 3), [(300.0, 250.0)])
    assert len(frames.people(image)) == 1
    # The detector also takes the legs for someone upside down, and the landmark model finds a
    # small body there: its hip centre is not the tracked person's, but it lies inside them.
    legs = (np.array([300.0, 268.0]), np.array([300.0, 298.0]))  # 18 px below the tracked hip centre

    class DetectorSeeingLegs(blazepose.PersonDetector):
        def __call__(self, image, views=None):
            return [(0.6, np.zeros(4), np.array([*legs, *legs]))] + super().__call__(image, views)

    seen = frames.detector
    frames.detector = DetectorSeeingLegs(seen.network, seen.turns, seen.tiles, seen.min_score)

    def small_body_at_the_legs(image):
        outputs = landmarks(image)
        if landmarks.calls % 2 == 0:  # each frame's second pass: on the legs' ROI
            body = outputs[0][0]
            angles = np.linspace(0, 2 * np.pi, 33, endpoint=False)
            body[:33, 0], body[:33, 1] = 128 + 20 * np.cos(angles), 128 + 20 * np.sin(angles)  # ~6 px in the image
            body[33, :2], body[34, :2] = (128, 58), (128, 0)  # its hip centre: 38 px from the tracked one
            outputs = (outputs[0], np.ones(1, np.float32), *outputs[2:])
        return outputs

    frames.landmark_model = small_body_at_the_legs
    for overlap, people in ((0.6, [0]), (1.0, [0, 1])):  # without the overlap test: someone new
        frames.settings.duplicate_overlap = overlap
        landmarks.calls = 0
        frames.frames_since_detection = frames.settings.redetect_interval
        assert [person.id for person in frames.people(image)] == people


def test_max_people_caps_the_people_and_static_mode_detects_every_photo(same_name_regressor):
    centres = [(100.0, 100.0), (300.0, 100.0), (500.0, 100.0)]
    frames, _, _ = front_end(same_name_regressor, max_people=2)
    assert len(frames.people(discs((480, 640, 3), centres))) == 2
    photos, detector, _ = front_end(same_name_regressor, static=True)
    for _ in range(3):
        assert [person.id for person in photos.people(discs((480, 640, 3), centres))] == [0, 1, 2]
    assert detector.calls == 3 * len(photos.detector.views((480, 640)))


def test_a_person_the_detector_misses_is_found_by_the_whole_image_pass(same_name_regressor):
    frames, _, _ = front_end(same_name_regressor)
    frames.detector.network = lambda image: (np.zeros((1, 2254, 12), np.float32), np.zeros((1, 2254), np.float32))
    image = discs((400, 400, 3), [(200.0, 200.0)], radius=50)
    (person,) = frames.people(image)
    np.testing.assert_allclose(person.landmarks.hip_centre, (200, 200), atol=1.5)
    no_fallback, _, _ = front_end(same_name_regressor, full_image_fallback=False)
    no_fallback.detector.network = frames.detector.network
    assert no_fallback.people(image) == []


@pytest.mark.parametrize('up, rotation', [((1.0, 0.0), np.pi / 2), ((0.0, 1.0), np.pi), ((-1.0, 0.0), -np.pi / 2)])
def test_people_lying_or_upside_down_are_detected_turned_and_found_where_they_are(same_name_regressor, up, rotation):
    frames, _, _ = front_end(same_name_regressor, full_image_fallback=False)
    (person,) = frames.people(discs((480, 640, 3), [(300.0, 250.0)], up=up))
    assert abs(np.angle(np.exp(1j * (person.landmarks.roi.rotation - rotation)))) < 0.05
    np.testing.assert_allclose(person.landmarks.hip_centre, (300, 250), atol=1.5)
    upright_only, _, _ = front_end(same_name_regressor, full_image_fallback=False, detector_turns=(0,),
                                   detector_tiles=1)
    for _ in range(2):  # the first frame's full search, then the search while nobody is in view
        assert upright_only.people(discs((480, 640, 3), [(300.0, 250.0)], up=up)) == []


def test_the_ranking_comes_from_the_world_depths(same_name_regressor):
    frames, _, _ = front_end(same_name_regressor)
    (person,) = frames.people(discs((480, 640, 3), [(300.0, 250.0)]))
    landmark = {name: k for k, name in enumerate(skeleton.BLAZEPOSE_LANDMARK_NAMES)}
    # DiscLandmarks puts landmark k nearer than landmark k + 1: the r_ankle (28) is behind the l_hip (23)
    r_foot, l_hip = (list(skeleton.DETECTED_JOINTS).index(skeleton.JOINT_NAMES.index(name)) for name in ('r_foot', 'l_hip'))
    assert landmark['r_ankle'] > landmark['l_hip']
    assert person.ranking[r_foot, l_hip] == 1 and person.ranking[l_hip, r_foot] == 0
    scale = 20.0 / np.log(0.6 / 0.4)  # the 20 mm tie band maps to P = 0.5 +- 0.1
    behind_mm = 1000.0 * (landmark['r_ankle'] - landmark['l_hip']) / 32
    assert person.probabilities[r_foot, l_hip] == pytest.approx(1 / (1 + np.exp(-behind_mm / scale)), abs=1e-5)
    assert person.depths_mm[r_foot] - person.depths_mm[l_hip] == pytest.approx(behind_mm, abs=1e-3)


def test_sides_exchanged_between_frames_are_told_from_motion():
    previous = np.random.default_rng(0).uniform(0, 200, (16, 2))
    moved, flip = previous + 3.0, skeleton.DETECTED_FLIP_PERMUTATION
    assert not blazepose.sides_flipped(moved, previous) and blazepose.sides_flipped(moved[flip], previous)
    side_on = (previous + previous[flip]) / 2  # each left joint on its right one: nothing to tell
    assert not blazepose.sides_flipped(side_on[flip] + 3.0, side_on)


@pytest.mark.parametrize('keep_sides', [True, False])
def test_a_landmark_model_flipping_a_tracked_persons_sides_is_swapped_back(same_name_regressor, keep_sides):
    frames, _, landmarks = front_end(same_name_regressor, keep_sides=keep_sides)
    names = skeleton.BLAZEPOSE_LANDMARK_NAMES
    flip = [names.index(name.replace('l_', 'r_', 1) if name.startswith('l_') else
                        name.replace('r_', 'l_', 1) if name.startswith('r_') else name) for name in names]
    flipping = {'now': False}

    def sometimes_flipped(image):  # the same body, left and right landmarks (and depths) exchanged
        outputs = landmarks(image)
        if flipping['now']:
            outputs[0][0, :33], outputs[3][0, :33] = outputs[0][0, flip].copy(), outputs[3][0, flip].copy()
        return outputs

    frames.landmark_model = sometimes_flipped
    image = discs((480, 640, 3), [(300.0, 250.0)])
    (first,) = frames.people(image)
    flipping['now'] = True
    (second,) = frames.people(image)
    (third,) = frames.people(image)  # still flipped: still swapped back, frame after frame
    order = skeleton.DETECTED_FLIP_PERMUTATION

    def kept(person):  # the ring's ROI moves by hundredths of a pixel from frame to frame
        return np.allclose(person.joints_2d, first.joints_2d, atol=0.5) and np.array_equal(person.ranking, first.ranking)

    for later in (second, third):
        assert (kept(later), np.allclose(later.joints_2d, first.joints_2d[order], atol=0.5)) == (keep_sides, not keep_sides)
    if keep_sides:  # flipped for longer than MAX_KEPT_SIDE_FRAMES: the landmark model is right after all
        later = [frames.people(image)[0] for _ in range(blazepose.MAX_KEPT_SIDE_FRAMES)]
        assert all(kept(person) for person in later[:-2]) and not kept(later[-1])


def test_images_that_are_not_rgb_are_refused(same_name_regressor):
    frames, _, _ = front_end(same_name_regressor)
    with pytest.raises(ValueError, match=r'image must be \(H, W, 3\) uint8 RGB, got float64 \(4, 4\)'):
        frames.people(np.zeros((4, 4)))


# --- the landmark model's flip test -------------------------------------------------------------

def mirrored_by_name(outputs):
    """What a landmark model that mirrors perfectly gives on the mirrored crop, built from the
    landmark names: x -> side - x, l_ <-> r_ and mouth_left <-> mouth_right, heatmap columns
    reversed, world x negated."""
    names = list(skeleton.BLAZEPOSE_LANDMARK_NAMES)
    partner = {'mouth_left': 'mouth_right', 'mouth_right': 'mouth_left'}
    order = [names.index(partner.get(name, {'l_': 'r_', 'r_': 'l_'}.get(name[:2], name[:2]) + name[2:]))
             for name in names] + list(range(len(names), 39))
    landmarks, presence, heatmaps, world = (np.array(output) for output in outputs)
    landmarks, heatmaps, world = landmarks[:, order], heatmaps[:, order, :, ::-1], world[:, order]
    landmarks[..., 0] = LANDMARK_INPUT - landmarks[..., 0]
    world[..., 0] *= -1
    return landmarks, presence, heatmaps, world


class TwoViewLandmarks:
    """Landmark stand-in with fixed outputs on a crop whose left half is bright and others on its
    mirror image (the right half bright)."""

    def __init__(self, own, mirrored):
        self.own, self.mirrored = own, mirrored

    def __call__(self, image):
        left, right = image[0, 0, :, :LANDMARK_INPUT // 2].mean(), image[0, 0, :, LANDMARK_INPUT // 2:].mean()
        return self.own if left > right else self.mirrored


def random_landmark_outputs(seed):
    rng = np.random.default_rng(seed)
    landmarks = np.concatenate([rng.uniform(20, 236, (1, 39, 3)), rng.uniform(0.5, 1, (1, 39, 2))], axis=2)
    heatmaps = np.full((1, 39, 64, 64), -10.0)
    cells = np.clip(np.trunc(landmarks[0, :, :2] / 4).astype(int) + rng.integers(-2, 3, (39, 2)), 0, 63)
    heatmaps[0, np.arange(39), cells[:, 1], cells[:, 0]] = 5.0  # a peak near each: refinement moves them
    return [landmarks.astype(np.float32), np.array([0.9], np.float32), heatmaps.astype(np.float32),
            rng.normal(0, 0.3, (1, 39, 3)).astype(np.float32)]


def landmarks_with_flip_test(regressor, own, mirrored):
    frames = BlazePoseFrontEnd(DiscDetector(), TwoViewLandmarks(own, mirrored),
                               FrontEndSettings(landmark_flip_test=True), regressor)
    image = np.zeros((LANDMARK_INPUT, LANDMARK_INPUT, 3), np.uint8)
    image[:, :LANDMARK_INPUT // 2] = 200
    roi = Roi.whole_image(image.shape)
    return frames.landmarks(image, roi), roi


def test_a_landmark_model_that_mirrors_perfectly_gives_the_same_landmarks_with_the_flip_test(same_name_regressor):
    own = random_landmark_outputs(0)
    found, roi = landmarks_with_flip_test(same_name_regressor, own, mirrored_by_name(own))
    expected = blazepose.decode_landmarks(own, roi)
    for field in ('points', 'visibility', 'in_frame', 'world'):
        np.testing.assert_allclose(getattr(found, field), getattr(expected, field), atol=1e-4, err_msg=field)
    assert found.presence == pytest.approx(expected.presence)


def test_the_flip_test_averages_the_two_views_when_they_name_the_sides_alike(same_name_regressor):
    own, other = random_landmark_outputs(0), random_landmark_outputs(0)
    other[0][..., :2] += np.float32(3.0)  # the mirror image's view, a little off
    other[3] += np.float32(0.1)
    found, roi = landmarks_with_flip_test(same_name_regressor, own, mirrored_by_name(other))
    average = blazepose.decode_landmarks([(a + b) / 2 for a, b in zip(own, other)], roi)
    np.testing.assert_allclose(found.world, average.world, atol=1e-5)
    np.testing.assert_allclose(found.points, average.points, atol=1e-3)
    assert not np.allclose(found.world, blazepose.decode_landmarks(own, roi).world, atol=1e-3)


def test_the_flip_test_keeps_the_crops_own_view_when_the_mirror_image_exchanges_the_sides(same_name_regressor):
    """A person seen from behind, read facing the camera in the mirror image: averaging would
    fold the two sides onto the middle."""
    own = random_landmark_outputs(1)
    exchanged = mirrored_by_name(own)
    order = skeleton.BLAZEPOSE_FLIP_PERMUTATION
    exchanged = [exchanged[0][:, order], exchanged[1], exchanged[2][:, order], exchanged[3][:, order]]
    found, roi = landmarks_with_flip_test(same_name_regressor, own, exchanged)
    np.testing.assert_allclose(found.points, blazepose.decode_landmarks(own, roi).points, atol=1e-4)
