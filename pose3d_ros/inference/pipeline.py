"""The pose pipeline the nodes and benchmarks share: image -> 2D joints + ranking -> 3D pose.

Per frame: a square person crop (the given box, else the box tracked from the previous frame's
joints, else the whole frame), the hourglass on it, heatmap peaks with sub-pixel refinement
mapped back to image pixels with per-joint confidence, PRCNN's depth scores turned into the
ranking matrix, and the lifter on the undistorted normalized joints and that ranking. The three
networks are backends (pose3d_ros.inference.backends); `build_pipeline` makes them from
checkpoints for one backend kind.
"""
import time
from dataclasses import dataclass

import numpy as np

from pose3d_ros.camera import pixels_to_normalized
from pose3d_ros.crop import crop_to_image, crop_transform, warp_crop
from pose3d_ros.heatmaps import decode_heatmaps, heatmap_to_crop
from pose3d_ros.inference.backends import DEFAULT_CACHE_DIR, make_backend
from pose3d_ros.inference.networks import load_network
from pose3d_ros.models.hourglass import HEATMAP_STRIDE
from pose3d_ros.ranking import discretize, probabilities_from_scores


@dataclass
class Detection2D:
    """One person in one image; joints in DETECTED_JOINTS order."""
    joints_2d: np.ndarray      # (16, 2) image pixels
    confidence: np.ndarray     # (16,) heatmap peak heights
    crop_center: np.ndarray    # (2,) image pixels
    crop_side: float           # image pixels
    probabilities: np.ndarray  # (16, 16) P_ij, joint i behind joint j
    ranking: np.ndarray        # (16, 16) discretized: 1 behind, 0 in front, 0.5 tie


def whole_frame_box(image_shape):
    """(center, side) of the square crop that holds the whole (H, W, ...) image."""
    height, width = image_shape[:2]
    return np.array([(width - 1) / 2, (height - 1) / 2]), float(max(height, width))


def network_input(image, center, side, size):
    """(H, W, 3) uint8 RGB image and a square box -> ((1, 3, size, size) float32 crop in [0, 1],
    the 2x3 affine from image to crop pixels)."""
    transform = crop_transform(center, side, size)
    crop = warp_crop(image, transform, size)
    return (crop.transpose(2, 0, 1)[None] * np.float32(1 / 255)).astype(np.float32), transform


class PersonTracker:
    """The crop for the next frame: the box around the last confident joints grown by `margin`,
    or the whole frame when there is none (start, or mean confidence under `min_confidence`)."""

    def __init__(self, margin=1.3, min_confidence=0.2):
        self.margin, self.min_confidence = margin, min_confidence
        self.center, self.side = None, None

    @property
    def tracking(self):
        return self.center is not None

    def box(self, image_shape):
        return (self.center, self.side) if self.tracking else whole_frame_box(image_shape)

    def update(self, joints_2d, confidence):
        confident = confidence >= self.min_confidence
        if confidence.mean() < self.min_confidence or confident.sum() < 2:
            self.center, self.side = None, None
            return
        low, high = joints_2d[confident].min(0), joints_2d[confident].max(0)
        self.center = (low + high) / 2
        self.side = float(max((high - low).max() * self.margin, 1.0))


def lift_joints(lifter, joints_2d_px, ranking, focal, center, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0)):
    """The lifter backend on one person: (16, 2) DETECTED_JOINTS pixels, their (16, 16) ranking
    (ignored by lifters without a ranking input; may then be None) and the camera's intrinsics
    (pose3d_ros.camera's lens model) -> (17, 3) mm, root-relative, optical frame."""
    normalized = pixels_to_normalized(joints_2d_px, focal, center, radial, tangential)
    inputs = {'joints_2d': normalized[None].astype(np.float32)}
    if 'ranking' in lifter.input_names:
        if ranking is None:
            raise ValueError('this lifter needs a ranking matrix')
        inputs['ranking'] = np.asarray(ranking, dtype=np.float32)[None]
    return lifter(**inputs)[0]


STAGES = ('crop', 'hourglass', 'prcnn', 'decode', 'lifter')


class PosePipeline:
    """hourglass(image), prcnn(image, heatmaps) and lifter(joints_2d[, ranking]) are backends;
    lifter None runs the 2D stages only. `stage_ms` holds each stage's latency in the last frame
    (STAGES; decode includes the ranking's assembly), for diagnostics and benchmarks."""

    def __init__(self, hourglass, prcnn, input_size, lifter=None, tie_band=0.1, tracker=None):
        self.hourglass, self.prcnn, self.lifter = hourglass, prcnn, lifter
        self.input_size = int(input_size)
        self.tie_band = tie_band
        self.tracker = tracker or PersonTracker()
        self.stage_ms = dict.fromkeys(STAGES, 0.0)
        self._clock = 0.0

    def _lap(self, stage):
        now = time.perf_counter()
        self.stage_ms[stage] = (now - self._clock) * 1000
        self._clock = now

    def detect(self, image, box=None):
        """(H, W, 3) uint8 RGB image [, (center, side) box] -> Detection2D."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}')
        self._clock = time.perf_counter()
        center, side = box if box is not None else self.tracker.box(image.shape)
        crop, transform = network_input(image, center, side, self.input_size)
        self._lap('crop')
        heatmaps = self.hourglass(image=crop)
        self._lap('hourglass')
        scores = self.prcnn(image=crop, heatmaps=heatmaps)
        self._lap('prcnn')
        peaks, confidence = decode_heatmaps(heatmaps[0])
        joints = crop_to_image(heatmap_to_crop(peaks, HEATMAP_STRIDE), transform)
        probabilities = probabilities_from_scores(scores[0])
        if box is None:
            self.tracker.update(joints, confidence)
        detection = Detection2D(joints_2d=joints.astype(np.float32), confidence=confidence,
                                crop_center=np.asarray(center, np.float64), crop_side=float(side),
                                probabilities=probabilities, ranking=discretize(probabilities, self.tie_band))
        self._lap('decode')
        return detection

    def lift(self, detection, focal, center, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0)):
        """Detection2D + the camera's intrinsics -> (17, 3) mm, root-relative, optical frame."""
        if self.lifter is None:
            raise ValueError('this pipeline has no lifter')
        self._clock = time.perf_counter()
        pose = lift_joints(self.lifter, detection.joints_2d, detection.ranking, focal, center, radial, tangential)
        self._lap('lifter')
        return pose


def build_pipeline(hourglass, prcnn, lifter=None, backend='onnxruntime', precision='fp32', device='cpu',
                   threads=None, cache_dir=DEFAULT_CACHE_DIR, tie_band=0.1, tracker=None):
    """A PosePipeline from .pt checkpoints, every network on the same backend kind."""
    def network(kind, checkpoint):
        return make_backend(kind, checkpoint, backend, precision, device, threads, cache_dir)

    input_size = load_network('hourglass', hourglass)[1]['image'][-1]
    return PosePipeline(network('hourglass', hourglass), network('prcnn', prcnn), input_size,
                        lifter=network('lifter', lifter) if lifter else None, tie_band=tie_band, tracker=tracker)
