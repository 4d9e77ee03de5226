"""The BlazePose front end: every person in an RGB image, their 2D joints and a depth ranking.

BlazePose (Bazarevsky et al. 2020; Google's MediaPipe Pose release, Apache-2.0) works in two
stages, both run here through the project's backends (pose3d_ros.inference.backends):
- the detector (224 x 224 letterboxed image) finds people by their head and gives two body
  keypoints per person: the hip centre and a point whose distance and direction from it give the
  body's size and rotation; each becomes a rotated square region of interest (ROI);
- the landmark model (256 x 256 crop of one ROI) gives 33 landmarks in pixels with visibility and
  presence, a pose-presence score, per-landmark heatmaps (used to refine the landmarks, as
  MediaPipe does) and 3D world landmarks in metres around the hip centre; two more landmarks
  place the person's ROI in the next frame.

The detector looks at several views of the frame: the whole frame upright and turned by quarter
turns (it finds people by their face, and misses faces upside down or sideways), and a grid of
overlapping tiles (people far away have faces of a few pixels in the whole frame). Video mode
tracks people from frame to frame through their ROIs: a full search (every view) runs on the
first frame and when a track is lost (presence under `min_presence`); while nobody is in view,
each frame searches the upright frame and one other view in turn; while fewer than `max_people`
are tracked, a newcomer search runs every `redetect_interval` frames on one view in turn. So a
frame never pays for every view but when it has just lost someone. A new person whose body lies
mostly inside a tracked person's box is not new (`duplicate_overlap`). Detections are matched
to tracks by hip-centre distance, so a tracked person keeps their id; a person lost and found
again near where they were within `id_memory_frames` gets their old id back. A tracked person's
joints keep their left and right sides when the landmark model flips them for a few frames
(`keep_sides`; the 33 landmarks stay as the model gave them). When the detector finds nobody, a
landmark pass over the whole image (`full_image_fallback`) catches a single person the detector
misses, such as a small one in an unusual pose. With `landmark_flip_test` the landmark model also
reads each crop mirrored, and the two views are averaged where they agree on left and right.
Nobody in view gives an empty list: no joints are ever invented.

The 33 landmarks become the project's joints through a linear joint regressor fitted on real
photos (pose3d_ros/weights/blazepose_joint_regressor.json, made by `pose3d_fit_joint_regressor`);
each joint's confidence is the regressor-weighted visibility of the landmarks it is made of, and
its depth comes from the world landmarks, which give the ranking matrix by DRPose3D's eq. 1.
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros import skeleton
from pose3d_ros.crop import crop_to_image, crop_transform, warp_crop
from pose3d_ros.inference.person import Person2D, check_image, network_image
from pose3d_ros.inference.networks import DETECTOR_INPUT, LANDMARK_INPUT
from pose3d_ros.integrity import check_shipped
from pose3d_ros.paths import WEIGHTS_DIR
from pose3d_ros.ranking import discretize

DEFAULT_JOINT_REGRESSOR = WEIGHTS_DIR / 'blazepose_joint_regressor.json'
STAGES = ('detector', 'landmarks', 'decode')

# MediaPipe Pose's detector decoding (pose_detection_cpu.pbtxt) and ROI margins
# (pose_detection_to_roi.pbtxt, pose_landmarks_to_roi.pbtxt).
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHOR_MIN_SCALE, ANCHOR_MAX_SCALE = 0.1484375, 0.75
NMS_IOU = 0.3
ROI_MARGIN = 1.25
HEATMAP_KERNEL = 7
MIN_HEATMAP_CONFIDENCE = 0.5


def ssd_anchor_centres(input_size=DETECTOR_INPUT, strides=ANCHOR_STRIDES):
    """(2254, 2) anchor centres (x, y) in [0, 1], in the detector's output order.

    MediaPipe's SsdAnchorsCalculator with fixed-size anchors: consecutive layers of the same stride
    share one feature map, and each layer puts two anchors (aspect ratio 1 and the interpolated
    scale) at every cell.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        same_stride = layer
        while same_stride < len(strides) and strides[same_stride] == strides[layer]:
            same_stride += 1
        anchors_per_cell = 2 * (same_stride - layer)
        cells = int(np.ceil(input_size / strides[layer]))
        y, x = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(x + 0.5) / cells, (y + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, anchors_per_cell, axis=1).reshape(-1, 2))
        layer = same_stride
    return np.concatenate(centres)


ANCHOR_CENTRES = ssd_anchor_centres()


@dataclass
class Roi:
    """A rotated square region of interest in image pixels."""
    center: np.ndarray  # (2,)
    side: float
    rotation: float  # radians, clockwise on screen

    @classmethod
    def from_alignment(cls, centre, scale_point, margin=ROI_MARGIN):
        """MediaPipe's AlignmentPointsRects + RectTransformation: a square centred on `centre`,
        2 x margin x |scale_point - centre| wide, turned so that scale_point is straight above."""
        centre, scale_point = np.asarray(centre, np.float64), np.asarray(scale_point, np.float64)
        delta = scale_point - centre
        rotation = np.pi / 2 - np.arctan2(-delta[1], delta[0])
        rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
        return cls(centre, float(2 * margin * np.hypot(*delta)), float(rotation))

    @classmethod
    def whole_image(cls, image_shape, quarter_turns=0):
        """The square that holds the whole (H, W, ...) image, turned clockwise by quarter turns."""
        height, width = image_shape[:2]
        return cls(np.array([(width - 1) / 2, (height - 1) / 2]), float(max(height, width)), quarter_turns * np.pi / 2)

    def transform(self, size):
        return crop_transform(self.center, self.side, size, self.rotation)

    def corner_box(self):
        """(x_min, y_min, width, height) of the ROI's square before rotation."""
        x, y = self.center - self.side / 2
        return x, y, self.side, self.side


TILE_OVERLAP = 0.25


def tiles(image_shape, count):
    """A count x count grid of upright square ROIs over the square that holds the (H, W, ...)
    image, each TILE_OVERLAP wider than its cell (none when count is 1)."""
    if count <= 1:
        return []
    whole = Roi.whole_image(image_shape)
    cell = whole.side / count
    offsets = (np.arange(count) - (count - 1) / 2) * cell
    return [Roi(whole.center + (dx, dy), cell * (1 + TILE_OVERLAP), 0.0) for dy in offsets for dx in offsets]


def decode_detections(regressions, scores, roi, min_score):
    """The detector's outputs on the crop of `roi` -> the detections scoring at least min_score,
    in image pixels, before non-maximum suppression: (scores (N,), face boxes (N, 4) x0 y0 x1 y1,
    keypoints (N, 4, 2))."""
    keep = np.nonzero(scores >= min_score)[0]
    raw = regressions[keep].astype(np.float64) / DETECTOR_INPUT
    anchors = ANCHOR_CENTRES[keep]
    centre, size = raw[:, 0:2] + anchors, raw[:, 2:4]
    points = np.concatenate([centre - size / 2, centre + size / 2,
                             raw[:, 4:12] + np.tile(anchors, 4)], axis=1)  # normalized crop coordinates
    points = crop_to_image(points.reshape(-1, 6, 2) * DETECTOR_INPUT, roi.transform(DETECTOR_INPUT))
    corners = points[:, 0:2]  # opposite corners, in either order once the crop is turned
    return scores[keep], np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1), points[:, 2:6]


def box_iou(box, boxes):
    """IoU of one (4,) x0 y0 x1 y1 box with (N, 4) boxes."""
    low, high = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return intersection / np.maximum(area + areas - intersection, 1e-12)


def weighted_nms(scores, boxes, keypoints, iou_threshold):
    """MediaPipe's WEIGHTED non-maximum suppression: the best remaining detection absorbs every
    detection overlapping it by more than iou_threshold, its box and keypoints becoming their
    score-weighted average; it keeps its own score. -> [(score, box, keypoints)], best first."""
    order = np.argsort(-scores, kind='stable')
    results = []
    while order.size:
        overlapping = box_iou(boxes[order[0]], boxes[order]) > iou_threshold
        group = order[overlapping]
        weights = scores[group] / scores[group].sum()
        results.append((float(scores[order[0]]), weights @ boxes[group],
                        np.tensordot(weights, keypoints[group], axes=1)))
        order = order[~overlapping]
    return results


class PersonDetector:
    """BlazePose's detector over several views of a frame: the whole frame upright and turned by
    `turns` quarter turns, then a `tiles` x `tiles` grid of upright tiles. `network` is its backend."""

    def __init__(self, network, turns=(0, 1, 2, 3), tiles=2, min_score=0.5):
        self.network, self.turns, self.tiles, self.min_score = network, tuple(turns), tiles, min_score
        self.reset()

    def reset(self):
        self.turn = 0  # counts the searches that look at one view in turn

    def views(self, image_shape):
        """The ROIs a full search runs the detector on: the turned whole frames (upright first),
        then the tiles."""
        return [Roi.whole_image(image_shape, turns) for turns in self.turns] + tiles(image_shape, self.tiles)

    def next_view(self, views):
        """One of `views`, each in turn from one call to the next."""
        view = views[self.turn % len(views)]
        self.turn += 1
        return view

    def search_views(self, image_shape, full):
        """What a search for someone looks at: every view (full), or the upright frame and one
        other view in turn (nobody was found by the last full search: a frame never pays for them all)."""
        views = self.views(image_shape)
        return views if full or len(views) == 1 else [views[0], self.next_view(views[1:])]

    def __call__(self, image, views=None):
        """Every person the detector finds in `views` (ROIs; default: all views) ->
        [(score, face box, keypoints)], best first; a person's ROI is person_roi(keypoints)."""
        found = []
        for roi in views or self.views(image.shape):
            crop = warp_crop(image, roi.transform(DETECTOR_INPUT), DETECTOR_INPUT, border='black')
            regressions, scores = self.network(image=network_image(crop))
            found.append(decode_detections(regressions[0], scores[0], roi, self.min_score))
        scores, boxes, keypoints = (np.concatenate(parts) for parts in zip(*found))
        return weighted_nms(scores, boxes, keypoints, NMS_IOU)


def person_roi(keypoints):
    """A detection's (4, 2) keypoints -> the ROI of the whole person (hip centre, scale point)."""
    return Roi.from_alignment(keypoints[0], keypoints[1])


def refine_from_heatmaps(points, heatmap_logits, kernel=HEATMAP_KERNEL, min_confidence=MIN_HEATMAP_CONFIDENCE):
    """MediaPipe's RefineLandmarksFromHeatmap: (N, 2) landmark positions in crop pixels and
    (N, S, S) heatmap logits -> positions moved to the sigmoid-weighted mean cell of the
    kernel x kernel window around each one (cut at the heatmap's edges), where that window's peak
    reaches min_confidence. (Like MediaPipe, the cell is found by truncation and the mean cell
    index is not shifted to the cell centre.)"""
    count, size = heatmap_logits.shape[0], heatmap_logits.shape[-1]
    scale = LANDMARK_INPUT / size
    cells = np.trunc(points / scale).astype(np.int64)  # (N, 2) column, row
    offsets = np.arange(kernel) - (kernel - 1) // 2
    cols, rows = cells[:, 0, None] + offsets, cells[:, 1, None] + offsets  # (N, kernel) each
    window = heatmap_logits[np.arange(count)[:, None, None], np.clip(rows, 0, size - 1)[:, :, None],
                            np.clip(cols, 0, size - 1)[:, None, :]].astype(np.float64)
    inside_rows, inside_cols = (rows >= 0) & (rows < size), (cols >= 0) & (cols < size)
    weights = inside_rows[:, :, None] * inside_cols[:, None, :] / (1 + np.exp(-window))  # (N, kernel, kernel)
    total = weights.sum(axis=(1, 2))
    refine = np.all((cells >= 0) & (cells < size), axis=1) & (weights.max(axis=(1, 2)) >= min_confidence)
    refined = points.copy()
    mean_col = (weights * cols[:, None, :]).sum(axis=(1, 2))
    mean_row = (weights * rows[:, :, None]).sum(axis=(1, 2))
    refined[refine] = np.stack([mean_col, mean_row], axis=1)[refine] / total[refine, None] * scale
    return refined


@dataclass
class Landmarks:
    """The landmark model's result on one ROI, in image coordinates."""
    presence: float            # probability that a person is in the ROI
    points: np.ndarray         # (39, 3) x, y pixels and z (depth, pixel scale, hip centre 0)
    visibility: np.ndarray     # (39,)
    in_frame: np.ndarray       # (39,) landmark presence
    world: np.ndarray          # (39, 3) metres, hip centre at 0, camera-aligned axes
    roi: Roi

    def next_roi(self):
        """The ROI that tracks this person into the next frame."""
        return Roi.from_alignment(self.points[skeleton.BLAZEPOSE_ROI_CENTRE, :2],
                                  self.points[skeleton.BLAZEPOSE_ROI_SCALE, :2])

    @property
    def hip_centre(self):
        return self.points[skeleton.BLAZEPOSE_ROI_CENTRE, :2]

    @property
    def box(self):
        """(4,) x0, y0, x1, y1 around the 33 body landmarks."""
        body = self.points[:len(skeleton.BLAZEPOSE_LANDMARK_NAMES), :2]
        return np.concatenate([body.min(axis=0), body.max(axis=0)])


def overlap_of_smaller(box, other):
    """How much of the smaller of two x0 y0 x1 y1 boxes the other covers, in [0, 1]."""
    low, high = np.maximum(box[:2], other[:2]), np.minimum(box[2:], other[2:])
    intersection = np.prod(np.clip(high - low, 0, None))
    smaller = min(np.prod(box[2:] - box[:2]), np.prod(other[2:] - other[:2]))
    return float(intersection / smaller) if smaller > 0 else 0.0


def decode_landmarks(outputs, roi):
    """The landmark model's outputs (landmarks, presence, heatmaps, world landmarks; batch 1) on
    the crop of `roi` -> Landmarks."""
    landmarks, presence, heatmaps, world = (output[0] for output in outputs)
    crop_points = refine_from_heatmaps(landmarks[:, :2].astype(np.float64), heatmaps)
    points = np.empty((len(landmarks), 3))
    points[:, :2] = crop_to_image(crop_points, roi.transform(LANDMARK_INPUT))
    points[:, 2] = landmarks[:, 2] * roi.side / LANDMARK_INPUT
    cos, sin = np.cos(roi.rotation), np.sin(roi.rotation)
    world = world.astype(np.float64) @ np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])
    return Landmarks(float(presence), points, landmarks[:, 3].astype(np.float64),
                     landmarks[:, 4].astype(np.float64), world, roi)


def side_distances(points, other, flip_permutation):
    """(N, 2) points and other (N, 2) points of the same body -> the median distance between their
    sided points (those flip_permutation moves) as labelled, and with other's left and right exchanged."""
    sided = np.nonzero(flip_permutation != np.arange(len(flip_permutation)))[0]
    labelled = np.median(np.linalg.norm(points[sided] - other[sided], axis=-1))
    exchanged = np.median(np.linalg.norm(points[sided] - other[flip_permutation[sided]], axis=-1))
    return labelled, exchanged


def same_sides(points, other):
    """Whether two (39, 2) landmark sets of one crop name left and right alike: their sided body
    landmarks lie nearer as labelled than with left and right exchanged. A person seen from behind
    is sometimes read facing the camera in one view and not in its mirror image; the two then
    cannot be averaged."""
    labelled, exchanged = side_distances(points, other, skeleton.BLAZEPOSE_FLIP_PERMUTATION)
    return labelled <= exchanged


def unmirror_landmark_outputs(outputs):
    """The landmark model's outputs on a horizontally mirrored crop -> the outputs as the crop itself
    would give them: x mirrored back, left and right landmarks exchanged, heatmaps mirrored back."""
    landmarks, presence, heatmaps, world = outputs
    order = skeleton.BLAZEPOSE_FLIP_PERMUTATION
    landmarks, heatmaps, world = landmarks[:, order].copy(), heatmaps[:, order, :, ::-1], world[:, order].copy()
    # pixel column c of the mirror image is column side - 1 - c: x -> side - x in the model's pixel-edge units
    landmarks[..., 0] = LANDMARK_INPUT - landmarks[..., 0]
    world[..., 0] = -world[..., 0]
    return landmarks, presence, heatmaps, world


class JointRegressor:
    """BlazePose landmarks -> the project's DETECTED_JOINTS, by the fitted (14, 33) LSP regressor
    composed with skeleton.LSP_TO_DETECTED."""

    def __init__(self, path=DEFAULT_JOINT_REGRESSOR):
        self.path = Path(path)
        try:
            check_shipped(self.path)
            saved = json.loads(self.path.read_text())
            weights = np.asarray(saved['weights'], np.float64)
            names = (tuple(saved['landmarks']), tuple(saved['joints']))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f'{self.path}: not a joint regressor file ({error})') from None
        expected = (skeleton.BLAZEPOSE_LANDMARK_NAMES, skeleton.LSP_JOINT_NAMES)
        if names != expected or weights.shape != (len(expected[1]), len(expected[0])):
            raise ValueError(f'{self.path}: expects weights of shape {(len(expected[1]), len(expected[0]))} from '
                             'the 33 BlazePose landmarks to the 14 LSP joints, in skeleton.py\'s orders')
        self.lsp_weights = weights
        self.matrix = skeleton.LSP_TO_DETECTED @ weights  # (16, 33)
        magnitude = np.abs(self.matrix)
        self.confidence_weights = magnitude / magnitude.sum(axis=1, keepdims=True)

    def __call__(self, landmarks):
        """Landmarks -> ((16, 2) pixels, (16,) confidence, (16,) depth in mm relative to the hips)."""
        count = self.matrix.shape[1]
        return (self.matrix @ landmarks.points[:count, :2], self.confidence_weights @ landmarks.visibility[:count],
                joint_depths_mm(self.matrix, landmarks.world[:count, 2]))


def joint_depths_mm(matrix, world_z):
    """A regressor's (16, 33) matrix and (..., 33) world landmark z in metres -> (..., 16) joint
    depths in mm relative to the hips."""
    return np.asarray(world_z) @ np.asarray(matrix).T * 1000.0


def depth_probabilities(depths_mm, tie_mm, tie_band):
    """(N,) depths -> (N, N) P_ij = sigmoid((z_i - z_j) / s), i behind j, with s chosen so that
    discretizing P with tie_band gives eq. 1's ranking with ties within tie_mm."""
    if not 0 < tie_band < 0.5:
        raise ValueError(f'tie_band must lie in (0, 0.5) to rank depths, got {tie_band}')
    scale = tie_mm / np.log((0.5 + tie_band) / (0.5 - tie_band))
    difference = (depths_mm[:, None] - depths_mm[None, :]) / scale
    return (1 / (1 + np.exp(-difference))).astype(np.float32)


@dataclass
class Track:
    id: int
    landmarks: Landmarks
    missed: int = 0  # frames since it was lost (recently lost tracks only)
    joints: np.ndarray = None  # the (16, 2) joints last published, sides kept
    sides_kept: int = 0  # frames in a row whose sides were exchanged back


# A tracked person's joints with left and right exchanged lying this much closer to the last
# frame's than as labelled: the landmark model has flipped their sides.
SIDE_FLIP_RATIO = 0.5
# Sides kept against the landmark model for this many frames in a row: the model is taken to be
# right after all (the track's first frame may have been the flipped one), so no error lasts.
MAX_KEPT_SIDE_FRAMES = 30


def sides_flipped(joints, previous):
    """Whether (16, 2) joints are the (16, 2) previous ones with left and right exchanged: their
    sided joints, exchanged, lie under SIDE_FLIP_RATIO of their labelled distance from the previous
    (medians over the joints: a few misplaced ones in a confused frame do not decide). Whole
    bodies only: deciding arms and legs apart locked a half-flipped frame's arms in."""
    labelled, exchanged = side_distances(previous, joints, skeleton.DETECTED_FLIP_PERMUTATION)
    return exchanged < SIDE_FLIP_RATIO * labelled


@dataclass
class FrontEndSettings:
    max_people: int = 4
    min_detection_score: float = 0.5
    min_presence: float = 0.5
    redetect_interval: int = 5
    id_memory_frames: int = 30
    full_image_fallback: bool = True
    static: bool = False  # every frame on its own (photos): detect every time, no tracking
    # Landmark passes on the ROI the previous pass's landmarks give, after the one on a new
    # person's detector ROI (which is coarser): tracking does this from frame to frame, a photo
    # or a newcomer gets it here (600 LSP Extended training photos: PCK@0.2 0.584 -> 0.598).
    refine_passes: int = 1
    # The detector finds people by their face, and misses faces upside down or on their side: it
    # also looks at the frame turned by these quarter turns (600 LSP Extended training photos, a
    # quarter of them acrobats upside down: PCK@0.2 0.598 with (0,), 0.632 with all four).
    detector_turns: tuple = (0, 1, 2, 3)
    # It sees the frame at 224 x 224, where people far away have faces of a few pixels: it also
    # looks at a tiles x tiles grid of overlapping upright tiles (1: the whole frame only).
    detector_tiles: int = 2
    depth_tie_mm: float = 20.0
    tie_band: float = 0.1
    # A detection belongs to a track when their hip centres are closer than this fraction of the
    # track's ROI side (about a fifth of the person's height).
    same_person_distance: float = 0.1
    # Video mode: a tracked person's left and right stay on their sides from frame to frame. The
    # landmark model sometimes flips a whole body's sides for a few frames (people seen from behind:
    # 29 of 100 frames of one of Pose2Sim's real videos with `full`); an abrupt exchange is swapped
    # back (sides_flipped), joints with their confidences and depths, for MAX_KEPT_SIDE_FRAMES at most.
    keep_sides: bool = True
    # A new person whose body lies this much inside a tracked person's box is that person again
    # (the detector sometimes takes part of a body, e.g. the legs in a tile, for someone upside
    # down); of two tracks this much inside each other the newer goes.
    duplicate_overlap: float = 0.6
    # The landmark model also reads each crop mirrored (left and right exchanged back) and the two
    # outputs are averaged: steadier landmarks and depths at twice the landmark model's time.
    landmark_flip_test: bool = False


class BlazePoseFrontEnd:
    """detector(image) -> (regressions, scores) and landmarks(image) -> (landmarks, presence,
    heatmaps, world landmarks) are backends; `people(image)` gives this frame's Person2D list
    and `stage_ms` each stage's latency in it."""

    stages = STAGES

    def __init__(self, detector, landmarks, settings=None, regressor=None):
        self.landmark_model = landmarks
        self.settings = settings or FrontEndSettings()
        self.detector = PersonDetector(detector, self.settings.detector_turns, self.settings.detector_tiles,
                                       self.settings.min_detection_score)
        if not self.settings.depth_tie_mm > 0:
            raise ValueError(f'depth_tie_mm must be positive, got {self.settings.depth_tie_mm}')
        if not 0 < self.settings.tie_band < 0.5:  # depth_probabilities needs a band on both sides
            raise ValueError(f'tie_band must lie in (0, 0.5) for the blazepose front end, got {self.settings.tie_band}')
        self.regressor = regressor or JointRegressor()
        self.stage_ms = dict.fromkeys(STAGES, 0.0)
        self.reset()

    def reset(self):
        """Forget every track (a new video or camera session)."""
        self.tracks, self.lost = [], []
        self.next_id = 0
        self.frames_since_detection = 0
        self.searched = False  # whether a full search has run since
        self.detector.reset()

    # -- the landmark model ----------------------------------------------------------------------

    def landmarks(self, image, roi):
        """The landmark model on one ROI (and its mirror image, with `landmark_flip_test`: the two
        outputs averaged) -> Landmarks."""
        crop = warp_crop(image, roi.transform(LANDMARK_INPUT), LANDMARK_INPUT, border='replicate')
        outputs = self.landmark_model(image=network_image(crop))
        if self.settings.landmark_flip_test:
            mirrored = unmirror_landmark_outputs(self.landmark_model(image=network_image(crop[:, ::-1])))
            if same_sides(outputs[0][0, :, :2], mirrored[0][0, :, :2]):
                outputs = [(own + other) / 2 for own, other in zip(outputs, mirrored)]
        return decode_landmarks(outputs, roi)

    # -- people ----------------------------------------------------------------------------------

    def people(self, image):
        """(H, W, 3) uint8 RGB image -> [Person2D] with stable ids (video mode) in id order."""
        image = check_image(image)
        settings = self.settings
        timer = _StageTimer(self.stage_ms)
        if settings.static:
            self.reset()
        tracked, lost_one = [], False
        for track in self.tracks:
            found = self.landmarks(image, track.landmarks.next_roi())
            if found.presence >= settings.min_presence:
                track.landmarks = found
                tracked.append(track)
            else:
                self._forget(track)
                lost_one = True
        timer.lap('landmarks')
        self.tracks = []
        for track in sorted(tracked, key=lambda t: t.id):  # two tracks on one person: the older stays
            if any(self._same_body(track.landmarks, kept.landmarks) for kept in self.tracks):
                self._forget(track)
            else:
                self.tracks.append(track)
        self.frames_since_detection += 1
        if len(self.tracks) < settings.max_people:
            if not self.searched or lost_one or not self.tracks:  # the first frame, someone lost, nobody in view
                self._add_detected(image, timer, self.detector.search_views(image.shape,
                                                                            full=not self.searched or lost_one))
                self.searched = True
            elif self.frames_since_detection >= settings.redetect_interval:  # newcomers: one view in turn
                self._add_detected(image, timer, [self.detector.next_view(self.detector.views(image.shape))])
        if not self.tracks and settings.full_image_fallback:
            found = self._new_person(image, Roi.whole_image(image.shape))
            if found is not None:
                self._start_track(found)
            timer.lap('landmarks')
        for track in self.lost:
            track.missed += 1
        self.lost = [track for track in self.lost if track.missed <= settings.id_memory_frames]
        people = [self._person(track) for track in sorted(self.tracks, key=lambda t: t.id)]
        timer.lap('decode')
        return people

    def _add_detected(self, image, timer, views):
        detections = self.detector(image, views)
        self.frames_since_detection = 0
        timer.lap('detector')
        for _, _, keypoints in detections:
            if len(self.tracks) >= self.settings.max_people:
                break
            if self._track_near(keypoints[0], self.tracks) is not None:
                continue  # already tracked
            found = self._new_person(image, person_roi(keypoints))
            # the landmark model may settle on someone already tracked, or on part of them
            if found is not None and self._track_near(found.hip_centre, self.tracks) is None \
                    and not any(self._same_body(found, track.landmarks) for track in self.tracks):
                self._start_track(found)
        timer.lap('landmarks')

    def _new_person(self, image, roi):
        """Landmarks of a person not tracked yet, refined -> Landmarks, or None when nobody is there."""
        found = self.landmarks(image, roi)
        if found.presence < self.settings.min_presence:
            return None
        for _ in range(self.settings.refine_passes):
            refined = self.landmarks(image, found.next_roi())
            if refined.presence < self.settings.min_presence:
                break
            found = refined
        return found

    def _same_body(self, landmarks, other):
        return overlap_of_smaller(landmarks.box, other.box) > self.settings.duplicate_overlap

    def _track_near(self, hip_centre, tracks):
        for track in tracks:
            limit = self.settings.same_person_distance * track.landmarks.roi.side
            if np.hypot(*(track.landmarks.hip_centre - hip_centre)) < limit:
                return track
        return None

    def _start_track(self, landmarks):
        recent = None if self.settings.static else self._track_near(landmarks.hip_centre, self.lost)
        if recent is not None:
            self.lost.remove(recent)
            track_id = recent.id
        else:
            track_id, self.next_id = self.next_id, self.next_id + 1
        self.tracks.append(Track(track_id, landmarks))

    def _forget(self, track):
        if not self.settings.static:
            track.missed = 0
            self.lost.append(track)

    def _person(self, track):
        found = track.landmarks
        joints, confidence, depths = self.regressor(found)
        if self.settings.keep_sides and track.joints is not None and sides_flipped(joints, track.joints) \
                and track.sides_kept < MAX_KEPT_SIDE_FRAMES:
            order = skeleton.DETECTED_FLIP_PERMUTATION
            joints, confidence, depths = joints[order], confidence[order], depths[order]
            track.sides_kept += 1
        else:
            track.sides_kept = 0
        track.joints = joints
        probabilities = depth_probabilities(depths, self.settings.depth_tie_mm, self.settings.tie_band)
        return Person2D(id=track.id, score=found.presence, box=found.box,
                        joints_2d=joints.astype(np.float32), confidence=confidence.astype(np.float32),
                        crop_box=np.asarray(found.roi.corner_box()), probabilities=probabilities,
                        ranking=discretize(probabilities, self.settings.tie_band), landmarks=found,
                        depths_mm=depths)


class _StageTimer:
    """Adds the time since the last lap to a stage's total (stages may run several times a frame)."""

    def __init__(self, stage_ms):
        self.stage_ms = stage_ms
        for stage in stage_ms:
            stage_ms[stage] = 0.0
        self.clock = time.perf_counter()

    def lap(self, stage):
        now = time.perf_counter()
        self.stage_ms[stage] += (now - self.clock) * 1000
        self.clock = now
