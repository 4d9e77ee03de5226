"""The DRPose3D front end: the stacked hourglass and PRCNN on one tracked person.

Per frame: a square person crop (the given box; else, with BlazePose's person detector, the ROI
it finds for the person this frame, turned upright and shrunk to the hourglass's training
framing; without it, the box around the previous frame's joints; else the whole frame), the
hourglass on it, heatmap peaks with sub-pixel refinement mapped back to image pixels with
per-joint confidence, and PRCNN's depth scores turned into the ranking matrix (with `flip_test`,
averaged with its scores on the mirrored crop and heatmaps, as pose networks are commonly tested:
on real video it ranks 0.840 of the pairs right instead of 0.805, docs/results.md). The
hourglass always finds 16 peaks: a frame whose mean peak height is under the tracker's
`min_confidence` counts as nobody in view.
"""
import time

import numpy as np

from pose3d_ros.crop import crop_to_image, crop_transform, warp_crop
from pose3d_ros.heatmaps import HEATMAP_STRIDE, decode_heatmaps, heatmap_to_crop
from pose3d_ros.inference.blazepose import Roi, person_roi
from pose3d_ros.inference.person import Person2D, check_image, network_image
from pose3d_ros.ranking import discretize, probabilities_from_scores
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION

STAGES = ('detector', 'crop', 'hourglass', 'prcnn', 'decode')
# The tracked crop's side over the joints' extent; the hourglass's real-photo crops use it too.
TRACKING_MARGIN = 1.3
# The hourglass's crop side over the side of the ROI BlazePose's detector draws around the same
# person: the median over LSP Extended training photos (pose3d_fit_detector_framing), so that a
# detected person fills the crop as the annotated ones did in training.
DETECTOR_FRAMING = 0.78
# The detector looks for a person it found last frame in a square this much wider than their ROI.
DETECTOR_VIEW_SCALE = 1.5
# Frames a person the detector misses keeps their last ROI (the hourglass still decides whether
# anyone is there) before a full search.
DETECTOR_HOLD_FRAMES = 5


def whole_frame_box(image_shape):
    """(center, side) of the square crop that holds the whole (H, W, ...) image."""
    height, width = image_shape[:2]
    return np.array([(width - 1) / 2, (height - 1) / 2]), float(max(height, width))


def network_input(image, center, side, size, rotation=0.0):
    """(H, W, 3) uint8 RGB image and a square box (turned `rotation` radians clockwise) ->
    ((1, 3, size, size) float32 crop in [0, 1], the 2x3 affine from image to crop pixels)."""
    transform = crop_transform(center, side, size, rotation)
    return network_image(warp_crop(image, transform, size)), transform


def flip_averaged_scores(prcnn, crop, heatmaps):
    """PRCNN's (1, 16) depth scores for a (1, 3, S, S) crop and its (1, 16, S/4, S/4) heatmaps,
    averaged with its scores on both mirrored (left and right joints exchanged). The mean of the
    scores is the mean of the pair logits F_i - F_j, so P_ij stays a sigmoid of score differences."""
    scores = prcnn(image=crop, heatmaps=heatmaps)
    mirrored = prcnn(image=np.ascontiguousarray(crop[..., ::-1]),
                     heatmaps=np.ascontiguousarray(heatmaps[:, DETECTED_FLIP_PERMUTATION, :, ::-1]))
    return (scores + mirrored[:, DETECTED_FLIP_PERMUTATION]) / 2


class PersonTracker:
    """The crop for the next frame without a person detector: the box around the last confident
    joints grown by `margin`, or the whole frame when there is none (start, or mean confidence
    under `min_confidence`). On real video the hourglass's joints are too rough to follow a
    person by: the box shrinks onto a part of the body (docs/results.md); the detector does better."""

    def __init__(self, margin=TRACKING_MARGIN, min_confidence=0.2):
        self.margin, self.min_confidence = margin, min_confidence
        self.center, self.side = None, None

    @property
    def tracking(self):
        return self.center is not None

    def box(self, image_shape):
        return (self.center, self.side) if self.tracking else whole_frame_box(image_shape)

    def found(self, confidence):
        """Whether joints of this confidence are a person."""
        return confidence.mean() >= self.min_confidence

    def update(self, joints_2d, confidence):
        confident = confidence >= self.min_confidence
        if not self.found(confidence) or confident.sum() < 2:
            self.center, self.side = None, None
            return
        low, high = joints_2d[confident].min(0), joints_2d[confident].max(0)
        self.center = (low + high) / 2
        self.side = float(max((high - low).max() * self.margin, 1.0))


class DRPose3DFrontEnd:
    """hourglass(image) -> heatmaps and prcnn(image, heatmaps) -> depth scores are backends;
    `detector` a blazepose.PersonDetector that finds the person to crop every frame, or None for
    the `tracker`'s box (the whole frame until someone is tracked); `flip_test` also runs PRCNN on
    the mirrored crop (flip_averaged_scores; twice its time);
    `people(image)` gives this frame's Person2D list (at most one person, id 0) and `stage_ms`
    each stage's latency in it."""

    stages = STAGES

    def __init__(self, hourglass, prcnn, input_size, tie_band=0.1, tracker=None, detector=None, flip_test=True):
        self.hourglass, self.prcnn, self.detector = hourglass, prcnn, detector
        self.flip_test = flip_test
        self.input_size = int(input_size)
        self.tie_band = tie_band
        self.tracker = tracker or PersonTracker()
        self.searched = False  # whether the detector has searched every view since a reset or a loss
        self.roi, self.missed = None, 0  # the detector's last ROI of the person, frames since it found them
        self.stage_ms = dict.fromkeys(STAGES, 0.0)
        self._clock = 0.0

    def reset(self):
        """Forget the tracked box (a new video or camera session)."""
        self.tracker = PersonTracker(self.tracker.margin, self.tracker.min_confidence)
        self.searched = False
        self.roi, self.missed = None, 0
        if self.detector is not None:
            self.detector.reset()

    def _lap(self, stage):
        now = time.perf_counter()
        self.stage_ms[stage] = (now - self._clock) * 1000
        self._clock = now

    def detected_roi(self, image):
        """The person's ROI this frame: the detector looks around last frame's ROI first, else
        searches (every view after a reset or a loss, else the upright frame and one other view in
        turn) and takes whoever is nearest last frame's ROI; a missed person keeps their last ROI
        for DETECTOR_HOLD_FRAMES frames. None when nobody has been found."""
        detections = []
        if self.roi is not None:
            around = Roi(self.roi.center, self.roi.side * DETECTOR_VIEW_SCALE, self.roi.rotation)
            detections = self.detector(image, [around])
        if not detections:
            detections = self.detector(image, self.detector.search_views(image.shape, full=not self.searched))
            self.searched = True
        if detections:
            rois = [person_roi(keypoints) for _, _, keypoints in detections]
            last = self.roi
            self.roi = rois[0] if last is None else min(rois, key=lambda roi: np.linalg.norm(roi.center - last.center))
            self.missed = 0
        elif self.roi is not None:
            self.missed += 1
            if self.missed > DETECTOR_HOLD_FRAMES:
                self.roi, self.missed, self.searched = None, 0, False
        return self.roi

    def people(self, image, box=None):
        """(H, W, 3) uint8 RGB image [, (center, side) crop box] -> [Person2D] (none or one)."""
        image = check_image(image)
        self._clock = time.perf_counter()
        center, side = box if box is not None else self.tracker.box(image.shape)
        rotation = 0.0
        follow_joints = box is None and self.detector is None
        if box is None and self.detector is not None:
            roi = self.detected_roi(image)
            if roi is not None:
                center, side, rotation = roi.center, roi.side * DETECTOR_FRAMING, roi.rotation
        self._lap('detector')
        crop, transform = network_input(image, center, side, self.input_size, rotation)
        self._lap('crop')
        heatmaps = self.hourglass(image=crop)
        self._lap('hourglass')
        scores = (flip_averaged_scores(self.prcnn, crop, heatmaps) if self.flip_test
                  else self.prcnn(image=crop, heatmaps=heatmaps))
        self._lap('prcnn')
        peaks, confidence = decode_heatmaps(heatmaps[0])
        joints = crop_to_image(heatmap_to_crop(peaks, HEATMAP_STRIDE), transform)
        probabilities = probabilities_from_scores(scores[0])
        if follow_joints:
            self.tracker.update(joints, confidence)
        people = []
        if self.tracker.found(confidence):
            corner = np.asarray(center, np.float64) - side / 2
            people.append(Person2D(
                id=0, score=float(np.clip(confidence.mean(), 0.0, 1.0)), box=np.concatenate([joints.min(0), joints.max(0)]),
                joints_2d=joints.astype(np.float32), confidence=confidence,
                crop_box=np.array([*corner, side, side]), probabilities=probabilities,
                ranking=discretize(probabilities, self.tie_band)))
        self._lap('decode')
        return people
