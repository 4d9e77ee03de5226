"""Lifter training and evaluation frames: 2D inputs, 3D targets and ranking matrices.

2D inputs are the DETECTED_JOINTS in undistorted normalized image coordinates (x/z, y/z), taken
from the ground-truth projection or the hourglass detections, or synthesized by virtual cameras
(DRPose3D 3.3); a front end's noise model (in torso lengths) may be added to any of them.
Rankings are computed per batch from the camera-frame depths (eq. 1), clean or noisy: each joint's
depth moved by the ranking source's measured depth error, then each pair flipped with its accuracy.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose3d_ros.camera import pixels_to_normalized
from pose3d_ros.ranking import coarse_depth_target, ranking_matrix
from pose3d_ros.skeleton import DETECTED_FLIP_PERMUTATION, DETECTED_JOINTS, FLIP_PERMUTATION, torso_lengths
from training.augmentation import (DetectionNoiseModel, fit_camera_distance, flip_rankings, sample_detection_noise,
                                   sample_virtual_cameras, virtual_camera_center)

INPUTS_2D = ('ground_truth', 'detections')
RANKINGS = ('none', 'ground_truth', 'noisy')
# Noisy rankings: PRCNN's overall pair accuracy in DRPose3D is 91.2 %.
DEFAULT_PAIR_ACCURACY = 0.91


@dataclass
class LiftingFrames:
    joints_2d: np.ndarray     # (F, 16, 2) float32, DETECTED_JOINTS, normalized image coordinates
    poses_camera: np.ndarray  # (F, 17, 3) float32, mm, camera optical frame
    actions: np.ndarray       # (F,) action names

    def __len__(self):
        return len(self.joints_2d)

    @classmethod
    def concatenate(cls, parts):
        parts = [part for part in parts if len(part)]
        if not parts:
            raise ValueError('no frames: the subject, camera and action selection is empty')
        return cls(*(np.concatenate([getattr(part, name) for part in parts])
                     for name in ('joints_2d', 'poses_camera', 'actions')))


def lifting_frames(sequences, inputs_2d, frame_step=1):
    """Frames of loaded Human3.6M sequences (training.datasets.h36m), every `frame_step`-th one."""
    if inputs_2d not in INPUTS_2D:
        raise ValueError(f'inputs_2d must be one of {INPUTS_2D}, got {inputs_2d!r}')
    parts = []
    for sequence in sequences:
        camera = sequence.camera
        if inputs_2d == 'detections':
            if sequence.detections is None:
                raise ValueError(f'S{sequence.subject} {sequence.name!r}: detections were not loaded')
            pixels = sequence.detections[::frame_step]
        else:
            pixels = sequence.joints_2d[::frame_step, DETECTED_JOINTS]
        normalized = pixels_to_normalized(pixels, camera.focal, camera.center, camera.radial,
                                          camera.tangential)
        poses = sequence.poses_camera[::frame_step]
        parts.append(LiftingFrames(normalized.astype(np.float32), poses.astype(np.float32),
                                   np.full(len(poses), sequence.action)))
    return LiftingFrames.concatenate(parts)


def virtual_camera_frames(rng, sequences, cameras_per_pose, noise_model=None, frame_step=1):
    """Each distinct world pose of `sequences` seen by `cameras_per_pose` random virtual cameras.

    Cameras are sampled around each subject's V_c at the distances of its real cameras. With a
    noise_model (a DetectionNoiseModel in pixels, DETECTED_JOINTS order) the 2D joints get
    detector-like noise, scaled to normalized coordinates by the real cameras' mean focal length.
    """
    if noise_model is not None and noise_model.unit != 'pixels':
        raise ValueError(f'virtual cameras take a noise model in pixels, got one in {noise_model.unit}')
    by_subject = {}
    for sequence in sequences:
        recordings, cameras = by_subject.setdefault(sequence.subject, ({}, {}))
        recordings[sequence.name] = sequence
        cameras[sequence.camera_index] = sequence.camera
    parts = []
    for recordings, cameras in by_subject.values():
        centres = np.stack([camera.T for camera in cameras.values()])
        axes = np.stack([camera.R[2] for camera in cameras.values()])
        center = virtual_camera_center(centres, axes)
        distance_mean, distance_std = fit_camera_distance(centres, center)
        focal = np.mean([camera.focal for camera in cameras.values()], axis=0)
        for sequence in recordings.values():
            world = np.repeat(sequence.poses_world[::frame_step], cameras_per_pose, axis=0)
            R, T = sample_virtual_cameras(rng, len(world), center, distance_mean, distance_std)
            poses = np.einsum('nij,nkj->nki', R, world - T[:, None])
            normalized = poses[:, DETECTED_JOINTS, :2] / poses[:, DETECTED_JOINTS, 2:]
            if noise_model is not None:
                normalized = normalized + sample_detection_noise(rng, noise_model, len(world)) / focal
            parts.append(LiftingFrames(normalized.astype(np.float32), poses.astype(np.float32),
                                       np.full(len(world), sequence.action)))
    return LiftingFrames.concatenate(parts)


def front_end_noise_model(path):
    """A DetectionNoiseModel in torso lengths over DETECTED_JOINTS (training.fit_front_end_noise)."""
    model = DetectionNoiseModel.load(path)
    if model.unit != 'torso' or model.weights.shape[0] != len(DETECTED_JOINTS):
        raise ValueError(f'{path}: a front end noise model must be in torso lengths over the '
                         f'{len(DETECTED_JOINTS)} detected joints, got {model.unit} over {model.weights.shape[0]}')
    return model


def add_front_end_noise(rng, joints_2d, model):
    """(B, 16, 2) normalized joints plus offsets drawn from a torso-unit model, each pose's offsets
    scaled by its own torso: the front end errs in proportion to the person's size in the image."""
    offsets = sample_detection_noise(rng, model, len(joints_2d)) * torso_lengths(joints_2d)[:, None, None]
    return (joints_2d + offsets).astype(joints_2d.dtype)


def detection_residuals(sequences, frame_step=1):
    """(F, 16, 2) hourglass detections minus projected ground truth, pixels (to fit the noise GMM)."""
    return np.concatenate([sequence.detections[::frame_step] -
                           sequence.joints_2d[::frame_step, DETECTED_JOINTS]
                           for sequence in sequences])


def _numbers(value, shape, what):
    """One number for every entry, an array, or a .npy / .json file -> a float64 array of `shape`;
    ValueError naming `what` and the value or file."""
    if isinstance(value, (str, Path)):
        path = Path(value)
        try:
            array = np.asarray(np.load(path) if path.suffix == '.npy' else json.loads(path.read_text()),
                               dtype=np.float64)
        except (OSError, ValueError) as error:
            raise ValueError(f'{what} {path}: cannot read {int(np.prod(shape))} values ({error})') from None
    else:
        array = np.full(shape, float(value)) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f'{what} {value}: expected shape {shape}, got {array.shape}')
    return array


def load_pair_accuracy(value, size=len(DETECTED_JOINTS)):
    """A per-pair ranking accuracy: a number in [0, 1], or a .npy / .json file with an N x N matrix.

    Pairs a measurement never saw untied (NaN) get 1: a synthesized tie is never flipped anyway.
    """
    matrix = _numbers(value, (size, size), 'pair accuracy')
    if isinstance(value, (str, Path)):
        matrix = np.where(np.isnan(matrix), 1.0, matrix)
    if not np.all((matrix >= 0) & (matrix <= 1)):
        raise ValueError(f'pair accuracy {value}: values must lie in [0, 1]')
    return matrix


def load_depth_error(value, size=len(DETECTED_JOINTS)):
    """A ranking source's per-joint depth error (standard deviation, mm): a number, N numbers, or a
    .npy file of N (pose3d_eval_real_3d --depth-error-out)."""
    errors = _numbers(value, (size,), 'depth error')
    if not np.all(errors >= 0):  # NaN fails too
        raise ValueError(f'depth error {value}: standard deviations must be >= 0 mm')
    return errors


@dataclass(frozen=True)
class RankingNoise:
    """A ranking source's errors, as the lifter is trained with them: each joint's depth moved by
    Gaussian noise of its depth_error_mm (errors grow more likely as two joints' depths get closer,
    as a real ranking source's do), then each pair flipped with probability 1 - pair_accuracy
    (DRPose3D 3.3's statistical noise: confusions at any distance)."""
    pair_accuracy: np.ndarray   # (16, 16)
    depth_error_mm: np.ndarray  # (16,)

    @classmethod
    def load(cls, pair_accuracy, depth_error_mm=0.0):
        return cls(load_pair_accuracy(pair_accuracy), load_depth_error(depth_error_mm))

    def rankings(self, rng, depths_mm, tie_mm):
        """(B, 16) camera-frame depths -> (B, 16, 16) noisy eq. 1 rankings."""
        if np.any(self.depth_error_mm > 0):  # no draw otherwise: flips alone keep their seeded stream
            depths_mm = depths_mm + rng.normal(size=np.shape(depths_mm)) * self.depth_error_mm
        return flip_rankings(rng, ranking_matrix(depths_mm, tie_mm), self.pair_accuracy)


def ranking_inputs(rng, poses_camera, mode, tie_mm, noise=None):
    """(B, 17, 3) camera-frame poses -> (B, 16, 16) ranking matrices the lifter reads, or None;
    `noise` (a RankingNoise) for mode 'noisy'."""
    if mode not in RANKINGS:
        raise ValueError(f'ranking must be one of {RANKINGS}, got {mode!r}')
    if mode == 'none':
        return None
    depths = poses_camera[:, DETECTED_JOINTS, 2]
    return noise.rankings(rng, depths, tie_mm) if mode == 'noisy' else ranking_matrix(depths, tie_mm)


def training_batch(rng, frames, indices, ranking, tie_mm, noise=None, mirror=False, noise_model=None):
    """Arrays for one batch: inputs, targets, (with mirror) random left-right mirroring, the ranking
    input (with `noise`, a RankingNoise, for 'noisy') and (with a torso-unit noise_model) the front
    end's 2D noise, drawn afresh for every batch."""
    joints_2d = frames.joints_2d[indices].copy()
    poses = frames.poses_camera[indices].copy()
    if mirror:
        # A mirrored camera: x -> -x in the image and in 3D, left and right joints swap names.
        flip = rng.random(len(indices)) < 0.5
        joints_2d[flip] = joints_2d[flip][:, DETECTED_FLIP_PERMUTATION] * np.float32([-1, 1])
        poses[flip] = poses[flip][:, FLIP_PERMUTATION] * np.float32([-1, 1, 1])
    if noise_model is not None:
        joints_2d = add_front_end_noise(rng, joints_2d, noise_model)
    depths = poses[:, DETECTED_JOINTS, 2]
    clean = ranking_matrix(depths, tie_mm)
    return {
        'joints_2d': joints_2d,
        'poses': poses,
        'ranking': clean if ranking == 'ground_truth' else ranking_inputs(rng, poses, ranking, tie_mm, noise),
        'ranking_target': clean,
        'coarse_depth': coarse_depth_target(depths).astype(np.float32),
    }
