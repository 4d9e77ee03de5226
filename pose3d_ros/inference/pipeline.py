"""The pose pipeline the nodes, `pose3d_infer` and the benchmarks share: image -> people with 2D
joints and a depth ranking -> 3D pose per person.

A front end finds the people: `blazepose` (pose3d_ros.inference.blazepose: BlazePose's detector
and landmark model, several people with track ids; the default) or `drpose3d`
(pose3d_ros.inference.drpose3d: the papers' stacked hourglass and PRCNN, one person). The lifter
turns each person's undistorted normalized joints and ranking into a root-relative 3D pose.
Every network is a backend (pose3d_ros.inference.backends); `build_pipeline` makes them from
checkpoints and model files for one backend kind.
"""
import time

import numpy as np

from pose3d_ros.camera import pixels_to_normalized
from pose3d_ros.inference.backends import make_backend
from pose3d_ros.inference.networks import load_network
from pose3d_ros.paths import DEFAULT_CACHE_DIR

FRONT_ENDS = ('blazepose', 'drpose3d')
LANDMARK_MODELS = ('lite', 'full', 'heavy')


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

    def lift(self, person, focal, center, radial=(0.0, 0.0, 0.0), tangential=(0.0, 0.0)):
        """Person2D + the camera's intrinsics -> (17, 3) mm, root-relative, optical frame."""
        if self.lifter is None:
            raise ValueError('this pipeline has no lifter')
        started = time.perf_counter()
        pose = lift_joints(self.lifter, person.joints_2d, person.ranking, focal, center, radial, tangential)
        self.stage_ms['lifter'] += (time.perf_counter() - started) * 1000
        return pose


def build_pipeline(front_end='blazepose', lifter=None, hourglass=None, prcnn=None, landmark_model='full',
                   backend='onnxruntime', precision='fp32', device='cpu', threads=None,
                   cache_dir=DEFAULT_CACHE_DIR, tie_band=0.1, settings=None, tracker=None, joint_regressor=None):
    """A PosePipeline, every network on the same backend kind.

    blazepose: the fetched BlazePose detector and `landmark_model` (lite, full, heavy) from
    cache_dir/blazepose, `settings` (blazepose.FrontEndSettings) and `joint_regressor` (a file;
    default the shipped one). drpose3d: the `hourglass` and `prcnn` checkpoints and `tracker`.
    lifter: a lifter checkpoint, or None for the 2D stages only.
    """
    def network(kind, path, threads=threads):
        return make_backend(kind, path, backend, precision, device, threads, cache_dir)

    if front_end == 'blazepose':
        from dataclasses import replace

        from pose3d_ros.inference import blazepose
        from pose3d_ros.models.blazepose_release import model_path

        if landmark_model not in LANDMARK_MODELS:
            raise ValueError(f'landmark_model must be one of {LANDMARK_MODELS}, got {landmark_model!r}')
        settings = replace(settings or blazepose.FrontEndSettings(), tie_band=tie_band)
        stages = blazepose.BlazePoseFrontEnd(
            network('blazepose_detector', model_path('pose_detection.tflite', cache_dir)),
            network('blazepose_landmarks', model_path(f'pose_landmark_{landmark_model}.tflite', cache_dir)),
            settings, blazepose.JointRegressor(joint_regressor or blazepose.DEFAULT_JOINT_REGRESSOR))
    elif front_end == 'drpose3d':
        from pose3d_ros.inference.drpose3d import DRPose3DFrontEnd

        if not (hourglass and prcnn):
            raise ValueError('the drpose3d front end needs hourglass and prcnn checkpoints')
        input_size = load_network('hourglass', hourglass)[1]['image'][-1]
        stages = DRPose3DFrontEnd(network('hourglass', hourglass), network('prcnn', prcnn), input_size,
                                  tie_band=tie_band, tracker=tracker)
    else:
        raise ValueError(f'front_end must be one of {FRONT_ENDS}, got {front_end!r}')
    # The lifter, a small MLP, is as fast on one thread; its own pool of workers slowed the image
    # networks' sessions beside it (BlazePose full landmarks: 12-13 ms a frame instead of 10).
    return PosePipeline(stages, lifter=network('lifter', lifter, threads=1) if lifter else None)
