"""3D from real images against a multi-view reference: Pose2Sim's Demo_SinglePerson (one person
filmed by four calibrated cameras, 100 frames at 60 fps, 1080 x 1920), fetched from PyPI.

    pose3d_eval_real_3d --json runs/eval_3d/real.json

The reference: the front end (`--reference-landmark-model`, heavy by default: its 2D is the
best this project has) finds the person's 16 DETECTED_JOINTS in each of the four videos
(video mode), and every joint of every frame is triangulated from the views that see it with
confidence >= 0.5 (confidence-weighted DLT, then Gauss-Newton on the reprojection error; a view
whose reprojection error exceeds OUTLIER_PX is dropped and the joint triangulated again, which
removes left/right swaps of one view). The camera being scored is always left out: its
reference comes from the other three views, so none of its own 2D is in it. It is not motion
capture: its 2D comes from the same family of networks, and the demo's calibration reprojects at
~10 px (training/pose2sim_check.py).

Then, per camera, the product configuration (`--front-end`: blazepose with `--landmark-model`,
full by default, or drpose3d with the `--hourglass` and `--prcnn` networks behind BlazePose's
person detector, tie band `--tie-band`; and each `--lifter`) runs on that camera's video alone, as
the camera node would, and is compared with the reference in that camera's optical frame:
- 2D joints: the front end's 16 joints against the reference projected into the scored camera,
  over the projection's box side (its larger extent): the mean and the share within 0.1 and 0.2;
  --residuals-2d-out writes them as vectors over the projection's torso length (.npy, views x 16
  x 2), from which pose3d_fit_front_end_noise --residuals fits the front end's noise on video.
- PA-MPJPE: mean joint error after a similarity Procrustes alignment of the 16 joints, over the
  12 limb joints (shoulders, elbows, wrists, hips, knees, feet) and over all 16; MPJPE after root
  (pelvis) alignment.
- ranking accuracy: the front end's ranking matrix against eq. 1 on the reference's camera-frame
  depths, over the pairs farther apart in depth than --pair-margin-mm (default 100 mm, beyond the
  reference's own depth noise) and than 20 mm (eq. 1's tie band); --pair-accuracy-out writes the
  per-pair accuracies at eq. 1's tie band (.npy, 16 x 16, NaN where no frame had the pair apart),
  the ranking noise a lifter is trained with (training/configs/lifter/dpnet_blazepose.yaml).
- depth error (a front end that measures depths, blazepose): each joint's depth relative to the
  person's mean against the reference's, its standard deviation per joint; --depth-error-out
  writes it (.npy, mm), the depth noise a lifter's rankings are trained with
  (training/configs/lifter/dpnet_depth_noise.yaml).
- root position error (MRPE): where pose3d_ros.root places each lifted person (the translation
  that fits the pose to the 2D joints) against the reference's pelvis, with its mean absolute x,
  y, z parts and their signed means (placed minus reference);
  and with --body-height-m, the same with the poses rescaled to that standing height; with
  --ground-prior, the same refined by the floor under the feet (the calibration's world z = 0
  plane, its z up; pose3d_ros.root.refine_with_ground).
- `blazepose_world` beside the lifters: BlazePose's own 3D world landmarks mapped through the
  joint regressor, the landmark model's answer without a lifter.
- with --prcnn: PRCNN's ranking, scored as the front end's, on the crop PRCNN learned people in
  (the box of the front end's confident joints grown by TRACKING_MARGIN), reading the
  --hourglass's heatmaps, or without one Gaussian heatmaps drawn at the front end's joints (the
  heatmaps prcnn_lspet.yaml trains PRCNN with, without noise): PRCNN alone, on real video, with the
  front end's flip test (its scores averaged with the mirrored crop's) unless --no-prcnn-flip-test.
  Discretized with the drpose3d front end's tie band, as the lifter gets it (and, beside it, with
  none: the side of 0.5, as the render and teacher evaluations score PRCNN). --pair-figure draws
  its per-pair accuracies on pairs apart by more than eq. 1's tie band, without a tie band (the
  front end's, as it ranks, without --prcnn): DRPose3D's Figure 6.

    pose3d_eval_real_3d --prcnn runs/image/prcnn_lspet/checkpoint.pt --pair-figure runs/eval_3d/prcnn_pairs.png
"""
import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from pose3d_ros.crop import crop_transform
from pose3d_ros.heatmaps import HEATMAP_STRIDE, crop_to_heatmap, gaussian_heatmaps
from pose3d_ros.inference.drpose3d import DRPose3DFrontEnd, PersonTracker
from pose3d_ros.paths import DEFAULT_CACHE_DIR, DEFAULT_HOURGLASS, DEFAULT_LIFTER, DEFAULT_PRCNN
from pose3d_ros.ranking import discretize, ranking_matrix
from pose3d_ros.root import world_floor_plane
from pose3d_ros.skeleton import DETECTED_JOINTS, JOINT_NAMES, torso_lengths
from training import cli
from training.datasets.pose2sim import (CALIBRATION_FILE, CAMERA_NAMES, fetch_demo, load_qca_calibration,
                                        read_video_frames, triangulate)
from training.metrics import procrustes_align, ranking_accuracy

DEMO = 'Demo_SinglePerson'
OUTLIER_PX = 40.0
MIN_CONFIDENCE = 0.5
EQ1_TIE_MM = 20.0
DETECTED_NAMES = [JOINT_NAMES[j] for j in DETECTED_JOINTS]
LIMB_JOINTS = [k for k, name in enumerate(DETECTED_NAMES) if name[2:] in ('shoulder', 'elbow', 'wrist', 'hip', 'knee', 'foot')]
PELVIS = DETECTED_NAMES.index('hip')
SPINE = JOINT_NAMES.index('spine')


def track_video(pipeline, frames, desc):
    """The most confident person of every frame (video mode) -> list of Person2D or None."""
    pipeline.reset()
    people = []
    for rgb in tqdm(frames, desc=desc, unit='frame', leave=False):
        found = pipeline.people(rgb)
        people.append(max(found, key=lambda person: person.score) if found else None)
    return people


def joints_and_confidence(people):
    """(F, 16, 2) pixels (NaN where nobody) and (F, 16) confidence (0 where nobody)."""
    joints = np.stack([person.joints_2d if person else np.full((16, 2), np.nan) for person in people])
    confidence = np.stack([person.confidence if person else np.zeros(16) for person in people])
    return joints.astype(np.float64), confidence.astype(np.float64)


def reference_points(joints, confidence, cameras):
    """(V, F, 16, 2) and (V, F, 16) from V views -> (F, 16, 3) world metres and (F, 16) reprojection
    error in pixels, dropping views that reproject further than OUTLIER_PX and triangulating again."""
    points, errors = [], []
    for frame in range(joints.shape[1]):
        weights = confidence[:, frame].copy()
        for _ in range(3):
            world, error = triangulate(joints[:, frame], weights, cameras, MIN_CONFIDENCE, refine_iterations=5)
            residual = np.linalg.norm(np.stack([camera.project(world) for camera in cameras]) - joints[:, frame], axis=-1)
            outliers = (weights >= MIN_CONFIDENCE) & (residual > OUTLIER_PX)
            if not outliers.any():
                break
            weights[outliers] = 0.0
        points.append(world)
        errors.append(error)
    return np.stack(points), np.stack(errors)


def report_names(paths):
    """Checkpoint paths -> their names in the report: the file name, or the path as given where
    two share a file name (runs/<name>/checkpoint.pt)."""
    names = [Path(path).name for path in paths]
    return [name if names.count(name) == 1 else str(path) for name, path in zip(names, paths)]


def torso_residuals(joints_2d, projected):
    """(16, 2) front end joints and the reference's projection (pixels) -> their difference over
    the projection's torso length, the unit of the front end's noise models."""
    return (np.asarray(joints_2d, np.float64) - projected) / torso_lengths(projected)


def undistorted(person, camera):
    """A Person2D whose joints are moved to where a distortion-free camera with the same K sees
    them (the Pose2Sim cameras use OpenCV's lens model)."""
    normalized = camera.pixels_to_normalized(person.joints_2d.astype(np.float64))
    return replace(person, joints_2d=(normalized * camera.focal + camera.center).astype(np.float32))


class HeatmapsAtJoints:
    """The hourglass's stand-in in a DRPose3DFrontEnd: Gaussian heatmaps of `sigma` drawn at given
    image joints (set before each frame, with the crop box the front end is given)."""

    def __init__(self, input_size, sigma):
        self.input_size, self.sigma, self.points = int(input_size), float(sigma), None

    def place(self, joints_2d, box):
        transform = crop_transform(*box, self.input_size)
        self.points = crop_to_heatmap(np.asarray(joints_2d, np.float64) @ transform[:, :2].T + transform[:, 2],
                                      HEATMAP_STRIDE)

    def __call__(self, image):
        return gaussian_heatmaps(self.points, self.input_size // HEATMAP_STRIDE, self.sigma)[None]


class PRCNNScorer:
    """PRCNN on a person the front end found: the crop around their joints PRCNN learned people
    in (PersonTracker's box), heatmaps from a hourglass backend or (hourglass None) HeatmapsAtJoints."""

    def __init__(self, prcnn, hourglass=None, input_size=None, sigma=1.0, tie_band=0.1, flip_test=True):
        input_size = input_size or prcnn.input_shapes['image'][-1]
        self.heatmaps = HeatmapsAtJoints(input_size, sigma) if hourglass is None else None
        self.front_end = DRPose3DFrontEnd(hourglass or self.heatmaps, prcnn, input_size, tie_band=tie_band,
                                          flip_test=flip_test)

    def probabilities(self, image, person):
        """(H, W, 3) RGB frame and the front end's Person2D -> PRCNN's (16, 16) P_ij, all 0.5 (every
        pair a tie, scored wrong) where the hourglass finds nobody in the crop."""
        tracker = PersonTracker()
        tracker.update(person.joints_2d.astype(np.float64), person.confidence)
        box = tracker.box(image.shape)
        if self.heatmaps is not None:
            self.heatmaps.place(person.joints_2d, box)
        found = self.front_end.people(image, box)
        return found[0].probabilities if found else np.full((len(person.joints_2d),) * 2, 0.5, np.float32)

    def ranking(self, image, person, tie_band=None):
        """The same, discretized with the front end's tie band (or `tie_band`)."""
        band = self.front_end.tie_band if tie_band is None else tie_band
        return discretize(self.probabilities(image, person), band)


def front_end_name(args):
    """What found the people and ranked their joints, for the report."""
    if args.front_end == 'blazepose':
        return f'blazepose ({args.landmark_model})'
    return (f'drpose3d (hourglass {Path(args.hourglass or DEFAULT_HOURGLASS).name}, '
            f'prcnn {Path(args.prcnn or DEFAULT_PRCNN).name}, tie band {args.tie_band:g}'
            f'{", flip test" if args.prcnn_flip_test else ""})')


def prcnn_scorer(args):
    """The PRCNNScorer of --prcnn [--hourglass] on args.backend (tie band args.tie_band, flip test
    args.prcnn_flip_test), or None without --prcnn."""
    if not args.prcnn:
        return None
    import torch

    from pose3d_ros.inference.backends import make_backend
    from training.train_image_model import DEFAULTS

    def network(kind, path):
        return make_backend(kind, path, args.backend, threads=args.threads, cache_dir=args.cache_dir)

    saved = torch.load(args.prcnn, map_location='cpu', weights_only=True)
    sigma = saved.get('config', DEFAULTS)['data']['heatmap_sigma']
    return PRCNNScorer(network('prcnn', args.prcnn), args.hourglass and network('hourglass', args.hourglass),
                       saved['input_size'], sigma, args.tie_band, args.prcnn_flip_test)


def pose_errors(predicted, reference):
    """(16, 3) predicted and reference joints (any units, reference in mm) -> PA-MPJPE over the
    limb joints and over all 16, and MPJPE after pelvis alignment, mm."""
    aligned = procrustes_align(predicted, reference)
    pa = np.linalg.norm(aligned - reference, axis=-1)
    rooted = np.linalg.norm((predicted - predicted[PELVIS]) - (reference - reference[PELVIS]), axis=-1)
    return pa[LIMB_JOINTS].mean(), pa.mean(), rooted.mean()


def evaluate(args):
    """The evaluation of the module's docstring -> (report, (views, 16, 2) the front end's 2D joints
    minus the reference's projection over its torso length)."""
    from pose3d_ros.inference.backends import make_backend, set_process_threads
    from pose3d_ros.inference.blazepose import FrontEndSettings
    from pose3d_ros.inference.pipeline import build_pipeline, lift_person

    set_process_threads(args.backend, args.threads)
    demo = fetch_demo(args.cache_dir) / DEMO
    cameras = load_qca_calibration(demo / CALIBRATION_FILE)
    videos = {name: list(read_video_frames(demo / 'videos' / f'{name}.mp4', limit=args.frames)) for name in CAMERA_NAMES}
    cameras = [cameras[name] for name in CAMERA_NAMES]

    def front_end(model, landmark_flip_test=False):
        return build_pipeline('blazepose', landmark_model=model, backend=args.backend, threads=args.threads,
                              cache_dir=args.cache_dir,
                              settings=FrontEndSettings(max_people=1, landmark_flip_test=landmark_flip_test))

    reference_pipeline = front_end(args.reference_landmark_model)
    observed = [joints_and_confidence(track_video(reference_pipeline, videos[name], f'reference {name}'))
                for name in CAMERA_NAMES]
    joints, confidence = np.stack([o[0] for o in observed]), np.stack([o[1] for o in observed])
    references = []  # per scored camera: (world (F, 16, 3), reprojection (F, 16)) from the other views
    for left_out in range(len(cameras)):
        others = [view for view in range(len(cameras)) if view != left_out]
        references.append(reference_points(joints[others], confidence[others], [cameras[v] for v in others]))

    if args.front_end == 'drpose3d':
        pipeline = build_pipeline('drpose3d', hourglass=args.hourglass or DEFAULT_HOURGLASS,
                                  prcnn=args.prcnn or DEFAULT_PRCNN, backend=args.backend, threads=args.threads,
                                  cache_dir=args.cache_dir, tie_band=args.tie_band, person_detector=True,
                                  prcnn_flip_test=args.prcnn_flip_test)
    else:
        pipeline = front_end(args.landmark_model, args.landmark_flip_test)
    lifters = {name: make_backend('lifter', path, args.backend, threads=args.threads, cache_dir=args.cache_dir)
               for name, path in zip(report_names(args.lifter), args.lifter)}
    scorer = prcnn_scorer(args) if args.front_end == 'blazepose' else None
    ranking_sources = ('reference ranking', *(['PRCNN ranking'] if scorer else []))
    rows = {name: [] for name in (*lifters, *(f'{name} + {source}' for name in lifters for source in ranking_sources))}
    if args.front_end == 'blazepose':  # BlazePose's own 3D answer beside the lifters'
        rows['blazepose_world'] = []
    placements = {'lifter scale': lambda camera: {}}  # lift_person's placement options per camera
    if args.body_height_m:
        placements[f'{args.body_height_m:g} m prior'] = lambda camera: {'body_height_m': args.body_height_m}
    if args.ground_prior:
        placements['floor prior'] = lambda camera: {'ground_plane': world_floor_plane(camera.R, camera.position[2])}
    root_errors = {(lifter_name, placement): [] for lifter_name in lifters for placement in placements}
    per_camera = {}
    predicted_rankings = {margin: ([], []) for margin in (args.pair_margin_mm, EQ1_TIE_MM)}
    prcnn_rankings = []
    errors_2d = []  # per scored view: (16,) pixel errors over the reference's projected box side
    residuals_2d = []  # per scored view: (16, 2) front end minus the reference's projection, in its torso lengths
    depth_errors = []  # per scored view: (16,) front end depth minus reference depth, both about their mean (mm)
    found = 0
    for camera, name, (world, _) in zip(cameras, CAMERA_NAMES, references):
        if name not in args.cameras:
            continue
        valid = np.isfinite(world).all(axis=(1, 2))
        people = track_video(pipeline, videos[name], f'front end {name}')
        first_row = len(rows[next(iter(lifters))])
        for frame, person in enumerate(people):
            if person is None or not valid[frame]:
                continue
            found += 1
            projected = camera.project(world[frame])
            extent = (projected.max(axis=0) - projected.min(axis=0)).max()
            errors_2d.append(np.linalg.norm(person.joints_2d - projected, axis=-1) / extent)
            residuals_2d.append(torso_residuals(person.joints_2d, projected))
            reference = camera.world_to_camera(world[frame]) * 1000.0
            if person.depths_mm is not None:
                depth_errors.append((person.depths_mm - person.depths_mm.mean())
                                    - (reference[:, 2] - reference[:, 2].mean()))
            for margin, (predicted, target) in predicted_rankings.items():
                predicted.append(person.ranking)
                target.append(ranking_matrix(reference[:, 2], margin))
            ideal = undistorted(person, camera)
            focal, center = tuple(camera.focal), tuple(camera.center)
            other_rankings = {'reference ranking': ranking_matrix(reference[:, 2], EQ1_TIE_MM)}
            if scorer is not None:
                prcnn_rankings.append(scorer.probabilities(videos[name][frame], person))
                other_rankings['PRCNN ranking'] = discretize(prcnn_rankings[-1], args.tie_band)
            for lifter_name, lifter in lifters.items():
                for row, ranking in ((lifter_name, ideal.ranking),
                                     *((f'{lifter_name} + {which}', ranking) for which, ranking in other_rankings.items())):
                    pose = lift_person(lifter, ideal.joints_2d, ideal.confidence, ranking, focal, center).pose_m * 1000
                    rows[row].append(pose_errors(np.delete(pose, SPINE, axis=0), reference))
                for placement, options in placements.items():
                    root = lift_person(lifter, ideal.joints_2d, ideal.confidence, ideal.ranking, focal, center,
                                       **options(camera)).root
                    root_errors[lifter_name, placement].append(
                        np.full(3, np.nan) if root is None else root * 1000 - reference[PELVIS])
            if 'blazepose_world' in rows:
                world_joints = pipeline.front_end.regressor.matrix @ person.landmarks.world[:33] * 1000.0
                rows['blazepose_world'].append(pose_errors(world_joints, reference))
        per_camera[name] = float(np.mean([errors[0] for errors in rows[next(iter(lifters))][first_row:]]))
    reprojection = np.concatenate([errors[np.isfinite(errors)] for _, errors in references])
    report = {
        'data': f'Pose2Sim {DEMO}: 4 calibrated cameras x {len(videos[CAMERA_NAMES[0]])} frames (real video, 1080 x 1920)',
        'reference': {'landmark_model': args.reference_landmark_model, 'views': 'the 3 cameras not scored',
                      'reprojection_px_median': float(np.median(reprojection)),
                      'reprojection_px_p90': float(np.percentile(reprojection, 90))},
        'front_end': front_end_name(args), 'cameras_scored': list(args.cameras), 'views_scored': found,
        f'pa_mpjpe_limbs_mm_per_camera ({next(iter(lifters))})': per_camera,
        'pa_mpjpe_limbs_mm': {}, 'pa_mpjpe_all_mm': {}, 'mpjpe_root_aligned_mm': {}, 'mrpe_mm': {},
        'joints_2d': joints_2d_report(np.array(errors_2d))}
    if depth_errors:
        report['depth_error_mm'] = depth_error_report(np.array(depth_errors))
    for (lifter_name, placement), errors in root_errors.items():
        errors = np.array(errors)
        placed = errors[~np.isnan(errors[:, 0])]
        report['mrpe_mm'][f'{lifter_name}, {placement}'] = {
            'mrpe': float(np.linalg.norm(placed, axis=1).mean()), 'xyz': np.abs(placed).mean(axis=0).tolist(),
            'bias_xyz': placed.mean(axis=0).tolist(), 'placed': len(placed), 'of': len(errors)}
    for name, errors in rows.items():
        if errors:
            limbs, all_joints, rooted = np.mean(errors, axis=0)
            report['pa_mpjpe_limbs_mm'][name], report['pa_mpjpe_all_mm'][name] = float(limbs), float(all_joints)
            report['mpjpe_root_aligned_mm'][name] = float(rooted)
    report.update(ranking_report({margin: (np.stack(predicted), np.stack(target))
                                  for margin, (predicted, target) in predicted_rankings.items()}))
    if scorer is not None:
        def prcnn_report(tie_band):
            predicted = discretize(np.stack(prcnn_rankings), tie_band)
            return ranking_report({margin: (predicted, np.stack(target)) for margin, (_, target) in predicted_rankings.items()})
        untied = prcnn_report(0.0)
        report['prcnn'] = {'checkpoint': args.prcnn, 'heatmaps': args.hourglass or "at the front end's joints",
                           'tie_band': scorer.front_end.tie_band, **prcnn_report(scorer.front_end.tie_band),
                           'ranking_accuracy_tie_band_0': untied['ranking_accuracy'],
                           'pair_accuracy_eq1_tie_band_0': untied['pair_accuracy_eq1']}
    return report, np.array(residuals_2d)


def joints_2d_report(errors):
    """(views, 16) front end joint errors over the reference's projected box side -> their mean
    and the share of joints within 0.1 and 0.2 of it (a person 1.8 m tall: ~18 and ~36 cm)."""
    return {'unit': "the reference's projected box side (its larger extent)", 'mean': float(errors.mean()),
            'within_0.1': float((errors < 0.1).mean()), 'within_0.2': float((errors < 0.2).mean())}


def depth_error_report(errors):
    """(views, 16) front end relative depths minus the reference's (mm) -> each joint's standard
    deviation (the ranking noise a lifter is trained with: --depth-error-out) and all joints'."""
    return {'per_joint_std': errors.std(axis=0).tolist(), 'std': float(errors.std())}


def ranking_report(rankings):
    """{margin_mm: (predicted (F, 16, 16), target (F, 16, 16) eq. 1 with ties within margin_mm)}, one
    of them at EQ1_TIE_MM -> {'ranking_accuracy': {'pairs > <margin> mm apart': accuracy},
    'pair_accuracy_eq1': (16, 16) per-pair accuracies at eq. 1's tie band, None where no frame had
    the pair apart}."""
    accuracy = {f'pairs > {margin:g} mm apart': ranking_accuracy(*pair)[1] for margin, pair in rankings.items()}
    per_pair = ranking_accuracy(*rankings[EQ1_TIE_MM])[0]
    return {'ranking_accuracy': accuracy, 'pair_accuracy_eq1': np.where(np.isnan(per_pair), None, per_pair).tolist()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--front-end', default='blazepose', choices=('blazepose', 'drpose3d'),
                        help='what finds the people in each video, as the camera node does (drpose3d: the '
                             '--hourglass and --prcnn checkpoints, default the shipped ones, behind BlazePose\'s '
                             'person detector)')
    parser.add_argument('--landmark-model', default='full', choices=('lite', 'full', 'heavy'),
                        help='the blazepose front end\'s landmark model')
    parser.add_argument('--landmark-flip-test', action='store_true',
                        help='the scored blazepose front end also reads each crop mirrored (the reference never does)')
    parser.add_argument('--tie-band', type=float, default=0.1,
                        help="the drpose3d front end's (and --prcnn's) tie band: P_ij within it of 0.5 is a tie")
    parser.add_argument('--prcnn-flip-test', action=argparse.BooleanOptionalAction, default=True,
                        help="average PRCNN's scores with its scores on the mirrored crop, as the drpose3d "
                             "front end does by default (its prcnn_flip_test)")
    parser.add_argument('--reference-landmark-model', default='heavy', choices=('lite', 'full', 'heavy'))
    parser.add_argument('--lifter', nargs='+', default=[str(DEFAULT_LIFTER)], help='lifter checkpoints to score')
    parser.add_argument('--pair-margin-mm', type=float, default=100.0)
    parser.add_argument('--body-height-m', type=float, default=0.0,
                        help='also place the people with this body-height prior (metres)')
    parser.add_argument('--ground-prior', action='store_true',
                        help="also place the people on the floor (the calibration's world z = 0 plane)")
    parser.add_argument('--cameras', nargs='+', default=list(CAMERA_NAMES), choices=CAMERA_NAMES,
                        help='score only these cameras (each still has its reference from the other three)')
    parser.add_argument('--frames', type=int, default=None, help='only the first N frames of each video')
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR))
    parser.add_argument('--json', help='write the report here')
    parser.add_argument('--pair-accuracy-out', help="write the per-pair ranking accuracies at eq. 1's tie band (.npy)")
    parser.add_argument('--residuals-2d-out', help="write the front end's 2D joints minus the reference's projection "
                                                   'in each view, over its torso length (.npy, views x 16 x 2), '
                                                   'what pose3d_fit_front_end_noise --residuals fits')
    parser.add_argument('--depth-error-out', help="write each joint's depth error, the standard deviation of the "
                                                  "front end's relative depth against the reference's (.npy, mm; "
                                                  "a front end that measures depths: blazepose)")
    parser.add_argument('--prcnn', help="PRCNN checkpoint: with the blazepose front end, score its ranking too, "
                                        "on the front end's people; with drpose3d, the front end's PRCNN")
    parser.add_argument('--hourglass', help='hourglass checkpoint: with --prcnn, the one whose heatmaps PRCNN reads '
                                            "(default: heatmaps drawn at the front end's joints); with drpose3d, "
                                            "the front end's hourglass")
    parser.add_argument('--pair-figure', help="PNG of the per-pair ranking accuracy at eq. 1's tie band "
                                              "(DRPose3D's Figure 6): PRCNN's with --prcnn, else the front end's")
    args = parser.parse_args(argv)
    if args.hourglass and not args.prcnn and args.front_end == 'blazepose':
        parser.error('--hourglass needs --prcnn (or --front-end drpose3d)')
    if args.depth_error_out and args.front_end != 'blazepose':
        parser.error('--depth-error-out needs a front end that measures depths (blazepose); '
                     f'{args.front_end} ranks joints without them')

    def command():
        report, residuals_2d = evaluate(args)
        reference = report['reference']
        print(f"{report['data']}; reference per camera triangulated from the other three with the "
              f"{reference['landmark_model']} model, reprojection median {reference['reprojection_px_median']:.1f} px "
              f"(p90 {reference['reprojection_px_p90']:.1f}); {report['views_scored']} views scored "
              f"with the front end {report['front_end']}")
        print(f'{"3D from one view":<40} {"PA-MPJPE limbs":>15} {"PA-MPJPE all":>13} {"MPJPE root":>11}')
        for name in report['pa_mpjpe_limbs_mm']:
            print(f"{name:<40} {report['pa_mpjpe_limbs_mm'][name]:15.1f} {report['pa_mpjpe_all_mm'][name]:13.1f} "
                  f"{report['mpjpe_root_aligned_mm'][name]:11.1f}")
        joints_2d = report['joints_2d']
        print(f"2D joints against the reference's projection, in its box side: mean {joints_2d['mean']:.3f}, "
              f"within 0.1: {joints_2d['within_0.1']:.3f}, within 0.2: {joints_2d['within_0.2']:.3f}")
        for pairs, accuracy in report['ranking_accuracy'].items():
            print(f'ranking accuracy, {pairs}: {accuracy:.3f}')
        if 'depth_error_mm' in report:
            print(f"depth error against the reference (standard deviation about each person's mean): "
                  f"{report['depth_error_mm']['std']:.1f} mm; per joint "
                  + ' '.join(f'{value:.0f}' for value in report['depth_error_mm']['per_joint_std']))
        for pairs, accuracy in report.get('prcnn', {}).get('ranking_accuracy', {}).items():
            print(f"PRCNN ranking accuracy (heatmaps: {report['prcnn']['heatmaps']}), {pairs}: {accuracy:.3f} "
                  f"(tie band {report['prcnn']['tie_band']:g}; 0: {report['prcnn']['ranking_accuracy_tie_band_0'][pairs]:.3f})")
        for name, root in report['mrpe_mm'].items():
            x, y, z = root['xyz']
            bias = ' / '.join(f'{value:+.1f}' for value in root['bias_xyz'])
            print(f"root position error (MRPE), {name}: {root['mrpe']:.1f} mm (x {x:.1f}, y {y:.1f}, z {z:.1f}; "
                  f"placed minus reference on average {bias}; {root['placed']} of {root['of']} placed)")
        for key, value in report.items():
            if key.startswith('pa_mpjpe_limbs_mm_per_camera'):
                print(key.replace('_', ' ') + ': ' + ', '.join(f'{name} {mm:.1f}' for name, mm in value.items()))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(args.json, lambda file: file.write(json.dumps(report, indent=1).encode()))
        if args.pair_accuracy_out:
            matrix = np.array(report['pair_accuracy_eq1'], dtype=np.float64)  # None -> NaN
            atomic_write(args.pair_accuracy_out, lambda file: np.save(file, matrix))
        if args.residuals_2d_out:
            atomic_write(args.residuals_2d_out, lambda file: np.save(file, residuals_2d))
        if args.depth_error_out:
            errors = np.array(report['depth_error_mm']['per_joint_std'])
            atomic_write(args.depth_error_out, lambda file: np.save(file, errors))
        if args.pair_figure:
            from training.evaluate_image_models import save_pair_figure

            pairs = f'pairs > {EQ1_TIE_MM:g} mm apart'
            if 'prcnn' in report:  # as Figure 6 and the render evaluation: the side of 0.5
                prcnn = report['prcnn']
                matrix, accuracy = prcnn['pair_accuracy_eq1_tie_band_0'], prcnn['ranking_accuracy_tie_band_0'][pairs]
                who = f'PRCNN ({Path(args.prcnn).parent.name}/{Path(args.prcnn).name}, no tie band)'
            else:
                matrix, accuracy = report['pair_accuracy_eq1'], report['ranking_accuracy'][pairs]
                who = f"front end {report['front_end']}"
            save_pair_figure(args.pair_figure, matrix, f'{who}: {accuracy:.3f}\nPose2Sim real reference, {pairs}')
    return cli.run(command)


if __name__ == '__main__':
    sys.exit(main())
