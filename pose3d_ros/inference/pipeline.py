"""The pose pipeline the nodes, `pose3d_infer` and the benchmarks share: image -> people with 2D
joints and a depth ranking -> 3D pose per person and where they stand.

A front end finds the people: `blazepose` (pose3d_ros.inference.blazepose: BlazePose's detector
and landmark model, several people with track ids; the default) or `drpose3d`
(pose3d_ros.inference.drpose3d: the papers' stacked hourglass and PRCNN, one person). The lifter
turns each person's undistorted normalized joints and ranking into a root-relative 3D pose, and
pose3d_ros.root places it in the camera frame.
Every network is a backend (pose3d_ros.inference.backends); `build_pipeline` makes them from
checkpoints and model files, or from a model bundle's ONNX files, for one backend kind.
"""
import time
from dataclasses import dataclass

import numpy as np

from pose3d_ros.camera import pixels_to_normalized
from pose3d_ros.inference.backends import make_backend
from pose3d_ros.paths import DEFAULT_CACHE_DIR
from pose3d_ros.root import refine_with_ground, root_position, scale_to_height
from pose3d_ros.skeleton import NUM_JOINTS, ROOT

FRONT_ENDS = ('blazepose', 'drpose3d')
LANDMARK_MODELS = ('lite', 'full', 'heavy')


def lifter_inputs(input_names, normalized, ranking):
    """A lifter's inputs (batch 1) for one person: (16, 2) DETECTED_JOINTS in normalized undistorted
    image coordinates and their (16, 16) ranking (ignored by lifters without a ranking input; may
    then be None)."""
    inputs = {'joints_2d': np.asarray(normalized, np.float32)[None]}
    if 'ranking' in input_names:
        if ranking is None:
            raise ValueError('this lifter needs a ranking matrix')
        inputs['ranking'] = np.asarray(ranking, dtype=np.float32)[None]
    return inputs


def lift_joints(lifter, normalized, ranking):
    """The lifter backend on one person's lifter_inputs -> (17, 3) mm, root-relative, optical frame."""
    return lifter(**lifter_inputs(lifter.input_names, normalized, ranking))[0]


@dataclass
class LiftedPerson:
    pose_m: np.ndarray            # (17, 3) metres, root-relative, optical frame
    root: np.ndarray = None       # (3,) metres in the optical frame, None where it could not be placed
    covariance: np.ndarray = None  # (3, 3) m^2 of root


def lift_person(lifter, pixels, confidence, ranking, focal, center, radial=(0.0, 0.0, 0.0),
                tangential=(0.0, 0.0), body_height_m=0.0, ground_plane=None):
    """One person's (16, 2) DETECTED_JOINTS pixels, (16,) confidences and (16, 16) ranking, and the
    camera's intrinsics (pose3d_ros.camera's lens model) -> LiftedPerson; body_height_m > 0 rescales
    the pose to that standing height before it is placed; a ground_plane (a, b, c, d) in the optical
    frame (pose3d_ros.root.ground_scales) refines the placement with the floor under the feet."""
    normalized = pixels_to_normalized(pixels, focal, center, radial, tangential)
    pose_mm = lift_joints(lifter, normalized, ranking)
    if pose_mm.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(pose_mm)):
        raise ValueError(f'the lifter returned a {pose_mm.shape} pose with non-finite values')
    pose_m = pose_mm.astype(np.float64) / 1000.0
    pose_m -= pose_m[ROOT]
    if body_height_m > 0:
        pose_m = scale_to_height(pose_m, body_height_m)
    placed = root_position(pose_m, normalized, confidence)
    if placed is not None and ground_plane is not None:
        refined = refine_with_ground(pose_m, *placed, confidence, ground_plane)
        if refined is not None:
            pose_m, placed = refined[0], refined[1:]
    return LiftedPerson(pose_m, *(placed or ()))


class PosePipeline:
    """A front end (people(image) -> [Person2D], `stages`, `stage_ms`, reset()) and optionally a
    lifter backend. `stage_ms` holds each stage's latency in the last frame: the front end's
    stages, then `lifter` summed over the people lifted since."""

    def __init__(self, front_end, lifter=None):
        self.front_end, self.lifter = front_end, lifter
        self.stages = (*front_end.stages, 'lifter')
        self.stage_ms = dict.fromkeys(self.stages, 0.0)

    def reset(self):
        """Forget what was tracked (a new video or camera session)."""
        self.front_end.reset()

    def people(self, image, **options):
        """(H, W, 3) uint8 RGB image -> [Person2D]."""
        people = self.front_end.people(image, **options)
        self.stage_ms.update(self.front_end.stage_ms, lifter=0.0)
        return people

    def lift(self, person, focal, center, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0), body_height_m=0.0,
             ground_plane=None):
        """Person2D + the camera's intrinsics -> LiftedPerson (pose and root, optical frame)."""
        if self.lifter is None:
            raise ValueError('this pipeline has no lifter')
        started = time.perf_counter()
        lifted = lift_person(self.lifter, person.joints_2d, person.confidence, person.ranking, focal, center,
                             radial, tangential, body_height_m, ground_plane)
        self.stage_ms['lifter'] += (time.perf_counter() - started) * 1000
        return lifted


def build_pipeline(front_end='blazepose', lifter=None, hourglass=None, prcnn=None, landmark_model='full',
                   backend='onnxruntime', precision='fp32', device='cpu', threads=None,
                   cache_dir=DEFAULT_CACHE_DIR, tie_band=0.1, settings=None, tracker=None, joint_regressor=None,
                   bundle=None, person_detector=False, prcnn_flip_test=True):
    """A PosePipeline, every network on the same backend kind.

    blazepose: the fetched BlazePose detector and `landmark_model` (lite, full, heavy) from
    cache_dir/blazepose, `settings` (blazepose.FrontEndSettings) and `joint_regressor` (a file;
    default the shipped one). drpose3d: the `hourglass` and `prcnn` checkpoints and `tracker`;
    with `person_detector`, BlazePose's detector (its views and score from `settings`) finds the
    person to crop every frame; `prcnn_flip_test` averages PRCNN's scores with its scores on the
    mirrored crop (drpose3d.flip_averaged_scores). bundle: a model bundle
    (pose3d_ros.inference.bundle.Bundle) whose ONNX files the front end runs instead. lifter: a
    lifter checkpoint or OnnxModel (a bundle's), or None for the 2D stages only.
    """
    from pose3d_ros.inference import blazepose
    from pose3d_ros.models.blazepose_release import model_path

    def network(kind, model, threads=threads):
        return make_backend(kind, model, backend, precision, device, threads, cache_dir)

    def detector_network():
        return network('blazepose_detector', bundle.model('blazepose_detector') if bundle is not None
                       else model_path('pose_detection.tflite', cache_dir))

    if front_end == 'blazepose':
        from dataclasses import replace

        if landmark_model not in LANDMARK_MODELS:
            raise ValueError(f'landmark_model must be one of {LANDMARK_MODELS}, got {landmark_model!r}')
        landmarks = (bundle.model('blazepose_landmarks', landmark_model) if bundle is not None
                     else model_path(f'pose_landmark_{landmark_model}.tflite', cache_dir))
        settings = replace(settings or blazepose.FrontEndSettings(), tie_band=tie_band)
        stages = blazepose.BlazePoseFrontEnd(
            detector_network(), network('blazepose_landmarks', landmarks),
            settings, blazepose.JointRegressor(joint_regressor or blazepose.DEFAULT_JOINT_REGRESSOR))
    elif front_end == 'drpose3d':
        from pose3d_ros.inference.drpose3d import DRPose3DFrontEnd

        if bundle is not None:
            if hourglass or prcnn:
                raise ValueError('the drpose3d front end runs a bundle or hourglass and prcnn checkpoints, not both')
            hourglass, prcnn = bundle.model('hourglass'), bundle.model('prcnn')
        if not (hourglass and prcnn):
            raise ValueError('the drpose3d front end needs hourglass and prcnn checkpoints')
        detector = None
        if person_detector:
            settings = settings or blazepose.FrontEndSettings()
            detector = blazepose.PersonDetector(detector_network(), settings.detector_turns, settings.detector_tiles,
                                                settings.min_detection_score)
        hourglass_network = network('hourglass', hourglass)
        input_size = hourglass_network.input_shapes['image'][-1]
        stages = DRPose3DFrontEnd(hourglass_network, network('prcnn', prcnn), input_size, tie_band=tie_band,
                                  tracker=tracker, detector=detector, flip_test=prcnn_flip_test)
    else:
        raise ValueError(f'front_end must be one of {FRONT_ENDS}, got {front_end!r}')
    # The lifter, a small MLP, is as fast on one thread; its own pool of workers slowed the image
    # networks' sessions beside it (BlazePose full landmarks: 12-13 ms a frame instead of 10).
    return PosePipeline(stages, lifter=network('lifter', lifter, threads=1) if lifter else None)
