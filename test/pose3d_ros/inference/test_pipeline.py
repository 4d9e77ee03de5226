import sys
from pathlib import Path

import numpy as np
import pytest

from pose3d_ros.crop import crop_transform
from pose3d_ros.heatmaps import crop_to_heatmap, gaussian_heatmaps
from pose3d_ros.inference.backends import OnnxRuntimeBackend, make_backend
from pose3d_ros.inference.blazepose import PersonDetector
from pose3d_ros.inference.networks import cached_onnx
from pose3d_ros.inference.drpose3d import (DETECTOR_FRAMING, DETECTOR_HOLD_FRAMES, STAGES, TRACKING_MARGIN,
                                          DRPose3DFrontEnd, PersonTracker, flip_averaged_scores)
from pose3d_ros.inference.pipeline import build_pipeline
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, DETECTED_JOINTS, JOINT_NAMES, ROOT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from photos import ANNOTATED_BOX, TWO_PEOPLE_PHOTO, read_rgb  # noqa: E402

SIZE = 64
JOINTS_IN_IMAGE = np.array([[300.0 + 7 * k, 200.0 + 11 * k] for k in range(16)])


class HeatmapsAt:
    """A hourglass stand-in that puts each joint's peak where JOINTS_IN_IMAGE fall in the crop."""

    def __init__(self, box):
        self.transform = crop_transform(*box, SIZE)

    def __call__(self, image):
        crop_points = JOINTS_IN_IMAGE @ self.transform[:, :2].T + self.transform[:, 2]
        return gaussian_heatmaps(crop_to_heatmap(crop_points, 4), SIZE // 4, 1.0)[None].astype(np.float32)


def scores_by_joint_index(image, heatmaps):
    return np.arange(16, dtype=np.float32)[None]  # joint 15 farthest


def test_joints_come_back_in_image_pixels_and_scores_become_the_ranking():
    box = (np.array([350.0, 290.0]), 260.0)
    front_end = DRPose3DFrontEnd(HeatmapsAt(box), scores_by_joint_index, SIZE, flip_test=False)
    image = np.zeros((480, 640, 3), np.uint8)
    (person,) = front_end.people(image, box)
    np.testing.assert_allclose(person.joints_2d, JOINTS_IN_IMAGE, atol=0.05)
    assert person.ranking[15, 0] == 1 and person.ranking[0, 15] == 0 and person.ranking[3, 3] == 0.5
    assert person.probabilities[15, 0] == pytest.approx(1 / (1 + np.exp(-15)))
    np.testing.assert_allclose(person.crop_box, [350 - 130, 290 - 130, 260, 260])
    with pytest.raises(ValueError, match=r'image must be \(H, W, 3\) uint8 RGB, got float64 \(4, 4\)'):
        front_end.people(np.zeros((4, 4)))


# +1 for a left joint, -1 for a right one, 0 for the middle ones
SIDES = np.array([{'l': 1, 'r': -1}.get(JOINT_NAMES[j][0] if JOINT_NAMES[j][1] == '_' else '', 0)
                  for j in DETECTED_JOINTS], np.float32)


def peak_columns(heatmaps):
    return heatmaps[0].max(axis=1).argmax(axis=1).astype(np.float32)  # (16,) each channel's peak column


def mirror_consistent_prcnn(image, heatmaps):
    """Depth scores a PRCNN trained with mirrored crops (left and right exchanged) could give: the
    image's brightness at each joint's peak, and how far right of centre a left joint lies (left of
    centre a right joint)."""
    columns = peak_columns(heatmaps)
    rows = heatmaps[0].max(axis=2).argmax(axis=1)
    brightness = image[0, 0, rows * 4, columns.astype(int) * 4]
    return (brightness + SIDES * (columns - (heatmaps.shape[-1] - 1) / 2))[None]


def test_flip_test_averages_the_scores_of_the_mirrored_crop_with_its_joints_exchanged():
    rng = np.random.default_rng(0)
    # constant over each heatmap pixel's 4 x 4 block, so both views read a peak's brightness alike
    crop = rng.random((1, 3, SIZE // 4, SIZE // 4), dtype=np.float32).repeat(4, axis=2).repeat(4, axis=3)
    heatmaps = gaussian_heatmaps(rng.uniform(0, SIZE // 4 - 1, (16, 2)).round(), SIZE // 4, 1.0)[None]
    calls = []

    def counted(image, heatmaps):
        calls.append(image)
        return mirror_consistent_prcnn(image, heatmaps)
    # A network that is mirror-consistent gives the same scores on the mirrored input, once its
    # joints are exchanged back: nothing changes (a channel left unexchanged on the way in or out would).
    np.testing.assert_allclose(flip_averaged_scores(counted, crop, heatmaps), mirror_consistent_prcnn(crop, heatmaps))
    np.testing.assert_array_equal(calls[1], crop[..., ::-1])
    # One that is not (here: depth = the column) gets the two views averaged: every joint in the middle.
    np.testing.assert_allclose(flip_averaged_scores(lambda image, heatmaps: peak_columns(heatmaps)[None], crop,
                                                    heatmaps), np.full((1, 16), (SIZE // 4 - 1) / 2))
    box = (np.array([350.0, 290.0]), 260.0)
    front_end = DRPose3DFrontEnd(HeatmapsAt(box), scores_by_joint_index, SIZE)
    (person,) = front_end.people(np.zeros((480, 640, 3), np.uint8), box)
    expected = (np.arange(16) + np.arange(16)[DETECTED_FLIP_PERMUTATION]) / 2  # the mirror's joint names exchanged
    np.testing.assert_allclose(person.probabilities[15, 0], 1 / (1 + np.exp(expected[0] - expected[15])), rtol=1e-6)


def test_low_heatmap_peaks_are_nobody():
    box = (np.array([350.0, 290.0]), 260.0)
    front_end = DRPose3DFrontEnd(lambda image: np.zeros((1, 16, SIZE // 4, SIZE // 4), np.float32),
                                 scores_by_joint_index, SIZE)
    assert front_end.people(np.zeros((480, 640, 3), np.uint8), box) == []


def test_the_tracker_follows_confident_joints_and_falls_back_to_the_whole_frame():
    tracker = PersonTracker(margin=1.5, min_confidence=0.3)
    center, side = tracker.box((480, 640, 3))
    np.testing.assert_allclose(center, [319.5, 239.5])
    assert side == 640
    tracker.update(JOINTS_IN_IMAGE, np.full(16, 0.9))
    center, side = tracker.box((480, 640, 3))
    np.testing.assert_allclose(center, JOINTS_IN_IMAGE.min(0) / 2 + JOINTS_IN_IMAGE.max(0) / 2)
    assert side == pytest.approx(165 * 1.5)
    tracker.update(JOINTS_IN_IMAGE, np.full(16, 0.1))
    assert not tracker.tracking and tracker.box((480, 640, 3))[1] == 640


def test_onnx_runtime_and_pytorch_backends_agree_end_to_end(checkpoints):
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    results = []
    for backend in ('pytorch', 'onnxruntime'):
        pipeline = build_pipeline('drpose3d', **checkpoints, backend=backend, threads=1,
                                  tracker=PersonTracker(min_confidence=0.0))  # random networks: always someone
        assert pipeline.front_end.input_size == SIZE and pipeline.lifter.name == backend
        (detection,) = pipeline.people(image)
        results.append((detection, pipeline.lift(detection, focal=(150.0, 150.0), center=(80.0, 60.0))))
        assert pipeline.stages == (*STAGES, 'lifter') and all(ms > 0 for ms in pipeline.stage_ms.values())
    (torch_detection, torch_lifted), (onnx_detection, onnx_lifted) = results
    np.testing.assert_allclose(onnx_detection.probabilities, torch_detection.probabilities, atol=1e-4)
    np.testing.assert_allclose(onnx_detection.confidence, torch_detection.confidence, atol=1e-4)
    np.testing.assert_allclose(onnx_lifted.pose_m, torch_lifted.pose_m, atol=1e-5)
    assert torch_lifted.pose_m.shape == (17, 3) and np.all(torch_lifted.pose_m[ROOT] == 0)
    assert (torch_lifted.root is None) == (onnx_lifted.root is None)
    if torch_lifted.root is not None:
        np.testing.assert_allclose(onnx_lifted.root, torch_lifted.root, rtol=1e-3)
    exports = sorted(path.suffix for path in (checkpoints['cache_dir'] / 'onnx').iterdir())
    assert exports == ['.json'] * 3 + ['.onnx'] * 3  # each with its record


def test_backend_choices_are_checked(checkpoints):
    with pytest.raises(ValueError, match=r"backend must be one of \('onnxruntime', 'pytorch', 'tensorrt'\), got 'tvm'"):
        make_backend('prcnn', checkpoints['prcnn'], 'tvm')
    with pytest.raises(ValueError, match=r"the onnxruntime backend runs \('fp32',\), not 'fp16'"):
        make_backend('prcnn', checkpoints['prcnn'], 'onnxruntime', 'fp16')


def test_bad_model_files_are_named(tmp_path, checkpoints):
    exported = cached_onnx('prcnn', checkpoints['prcnn'], checkpoints['cache_dir'] / 'onnx')
    with pytest.raises(ValueError, match=r'missing\.onnx: ONNX model not found'):
        OnnxRuntimeBackend(tmp_path / 'missing.onnx')
    truncated = tmp_path / 'truncated.onnx'
    truncated.write_bytes(exported.path.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r'truncated\.onnx: not a loadable ONNX model'):
        OnnxRuntimeBackend(truncated)
    backend = OnnxRuntimeBackend(exported.path)
    with pytest.raises(ValueError, match=r"prcnn-[0-9a-f]+\.onnx: expects inputs \['image', 'heatmaps'\], got \['image'\]"):
        backend(image=np.zeros((1, 3, SIZE, SIZE), np.float32))


class ScriptedDetector(PersonDetector):
    """BlazePose's person detector with its network replaced by a script: each call takes the next
    list of detections and records how many views it was given."""

    def __init__(self, script):
        super().__init__(network=None)
        self.script, self.views_searched = list(script), []

    def __call__(self, image, views=None):
        self.views_searched.append(len(views))
        return self.script.pop(0)


def detection(hip, scale_point, score=0.9):
    """A ScriptedDetector result: the hip centre and scale point are all a person's ROI needs."""
    return score, np.zeros(4), np.array([hip, scale_point, [0.0, 0.0], [0.0, 0.0]])


def test_the_detector_finds_whom_to_crop_every_frame():
    # an upright ROI of side 2 x 1.25 x 130 = 325 around the hip, cropped at DETECTOR_FRAMING of it
    person = detection([350.0, 290.0], [350.0, 160.0])
    someone_else = detection([100.0, 290.0], [100.0, 160.0], score=0.95)
    side = 325 * DETECTOR_FRAMING
    person_crop = [350 - side / 2, 290 - side / 2, side, side]
    hourglass = HeatmapsAt((np.array([350.0, 290.0]), side))
    lost = {'now': True}
    detector = ScriptedDetector([])
    front_end = DRPose3DFrontEnd(lambda image: hourglass(image) * (0.0 if lost['now'] else 1.0),
                                 scores_by_joint_index, SIZE, detector=detector)
    image = np.zeros((480, 640, 3), np.uint8)
    views = len(detector.views(image.shape))

    def frame(*calls):  # each call: the detections the detector returns
        detector.script.extend(calls)
        detector.views_searched.clear()
        people = front_end.people(image)
        assert not detector.script  # every scripted call made
        return people, detector.views_searched

    assert frame([]) == ([], [views])  # nobody: the whole frame cropped after a full search
    assert front_end.roi is None
    lost['now'] = False
    (found,), searched = frame([person])
    assert searched == [2]  # nobody since the full search: the upright frame + one view in turn
    np.testing.assert_allclose(found.crop_box, person_crop)
    np.testing.assert_allclose(found.joints_2d, JOINTS_IN_IMAGE, atol=0.05)
    (found,), searched = frame([someone_else, person])  # a better-scored person elsewhere
    assert searched == [1]  # only the square around last frame's ROI
    np.testing.assert_allclose(found.crop_box, person_crop)  # the same person kept
    for _ in range(DETECTOR_HOLD_FRAMES):  # missed around their ROI and by the search: ROI kept
        (found,), searched = frame([], [])
        assert searched == [1, 2]
        np.testing.assert_allclose(found.crop_box, person_crop)
    lost['now'] = True
    assert frame([], []) == ([], [1, 2])  # held too long: lost, the whole frame cropped
    assert front_end.roi is None and not front_end.searched
    frame([])
    assert detector.views_searched == [views]  # someone lost: a full search again
    front_end.reset()
    assert not front_end.searched and detector.turn == 0


def test_without_a_detector_the_crop_follows_the_joints():
    box = (np.array([350.0, 290.0]), 260.0)
    front_end = DRPose3DFrontEnd(HeatmapsAt(box), scores_by_joint_index, SIZE)
    image = np.zeros((480, 640, 3), np.uint8)
    (first,) = front_end.people(image)
    np.testing.assert_allclose(first.crop_box, [-0.5, -80.5, 640, 640])  # the whole frame
    (second,) = front_end.people(image)
    low, high = first.joints_2d.min(0), first.joints_2d.max(0)
    np.testing.assert_allclose(second.crop_box[:2] + second.crop_box[2] / 2, (low + high) / 2, rtol=1e-5)
    assert second.crop_box[2] == pytest.approx((high - low).max() * TRACKING_MARGIN)


def test_the_person_detector_crops_a_person_of_a_real_photo(checkpoints):
    image = read_rgb(TWO_PEOPLE_PHOTO)
    pipeline = build_pipeline('drpose3d', hourglass=checkpoints['hourglass'], prcnn=checkpoints['prcnn'],
                              backend='pytorch', tracker=PersonTracker(min_confidence=0.0), person_detector=True)
    (person,) = pipeline.people(image)
    x, y, side, _ = person.crop_box
    # BlazePose's detector scores the man on the right best (the photo's annotated person sits on
    # the left, 306 px tall): his ROI (495 px) shrunk to the hourglass's framing holds him and not
    # the annotated man
    roi = pipeline.front_end.roi
    assert side == pytest.approx(roi.side * DETECTOR_FRAMING) and 1.0 < side / (ANNOTATED_BOX[3] - ANNOTATED_BOX[1]) < 1.5
    assert x > ANNOTATED_BOX[0] + 30 and x + side > image.shape[1] * 0.75
    assert pipeline.stage_ms['detector'] > 0
