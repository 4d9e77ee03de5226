"""Fit the real-camera front end's 2D noise model: its joints against annotated real photos.

    pose3d_fit_front_end_noise --lsp ../shared/data/lspet/joints.mat \
        --landmarks runs/joint_regressor/landmarks-full-refine1-turns0123-tiles2-babf28247ffe.npz \
        --out training/noise/blazepose_full_2d.npz

The landmarks are the BlazePose front end's on the LSP Extended training split (the cache that
pose3d_fit_joint_regressor writes); the joint regressor (default: the shipped one) maps them to
the project's DETECTED_JOINTS, and the annotations go through skeleton.LSP_TO_DETECTED (pelvis
and thorax as midpoints), so the residuals are in the project's joint convention. A joint counts
where every annotated joint it is made of is labelled; photos where nobody was found are left
out (a miss is not 2D noise: the lifter never sees it). LSP Extended's crowd-sourced labels name
left and right from the viewer's side in about an eighth of the photos, so each photo is scored
with its labels as given or with left and right exchanged, whichever fits the front end better
(median residual): a whole-body swap by the front end itself is therefore not in the model
(they happen: the real 3D reference shows one in a back view). Residuals are divided by the person's
torso (a shoulder to the opposite hip, mean of both), since the front end works on a crop of the
person and errs in proportion to their size, and fitted with one Gaussian mixture per joint
(training.augmentation.fit_detection_noise, unit `torso`). Training adds it to every 2D input
with `augmentation.front_end_noise` (training/configs/lifter/dpnet_blazepose.yaml).

With --residuals the residuals come instead from real video (pose3d_eval_real_3d
--residuals-2d-out: the front end's joints against a multi-view reference projected into the
same camera, over that projection's torso), where no annotator clicked: a lighter model, of
upright people at a robot's distance, that still carries the reference's own error (its
calibration reprojects at ~10 px).

    pose3d_eval_real_3d --landmark-model full --residuals-2d-out runs/eval_3d/residuals_full.npy
    pose3d_fit_front_end_noise --residuals runs/eval_3d/residuals_full.npy --out training/noise/blazepose_full_2d_video.npz

With --upright only photos of upright people count (AnnotatedPerson.is_upright: 1,052 of the
8,000): LSP Extended is mostly acrobatics and sport, whose residuals are about twice those on
standing and walking people, the ones a robot mostly sees.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from pose3d_ros.atomic import atomic_write
from pose3d_ros.inference.blazepose import DEFAULT_JOINT_REGRESSOR, JointRegressor
from pose3d_ros.skeleton import BLAZEPOSE_LANDMARK_NAMES, DETECTED_JOINTS, JOINT_NAMES, LSP_FLIP_PERMUTATION, LSP_TO_DETECTED
from training import cli
from training.augmentation import fit_detection_noise
from training.datasets.keypoints import load_lsp
from training.fit_joint_regressor import read_landmark_cache

COMPONENTS = 3
# Added to the mixtures' covariances, torso^2: a 1 % torso standard deviation at least.
COVARIANCE_FLOOR_TORSO2 = 1e-4


def residuals_in_torsos(landmarks, images, regressor, swap=False):
    """(F, 16, 2) front end joints minus annotated joints over torso length, NaN where a joint is not
    annotated (with swap, the labels' left and right exchanged); F counts the photos with a person
    found and a torso annotated."""
    people = [image.people[0] for image in images]
    torso = np.array([person.torso_size() for person in people])
    found = ~np.isnan(landmarks).any(axis=(1, 2)) & (torso > 0)
    count = len(BLAZEPOSE_LANDMARK_NAMES)
    order = LSP_FLIP_PERMUTATION if swap else slice(None)
    predicted = np.einsum('jl,flc->fjc', regressor.matrix[:, :count], landmarks[found])
    annotated = np.stack([np.nan_to_num(person.joints[order]) for person in people])[found]
    labelled = np.stack([person.annotated[order] for person in people])[found]
    target = np.einsum('jk,fkc->fjc', LSP_TO_DETECTED, annotated)
    # A DETECTED joint is annotated where every LSP joint it is made of is.
    complete = ~np.einsum('jk,fk->fj', (LSP_TO_DETECTED != 0).astype(int), (~labelled).astype(int)).astype(bool)
    return np.where(complete[..., None], (predicted - target) / torso[found, None, None], np.nan)


def best_labelling(landmarks, images, regressor):
    """Residuals with each photo's labels as given or left-right exchanged, whichever has the smaller
    median residual -> (residuals, fraction of photos exchanged)."""
    given, exchanged = (residuals_in_torsos(landmarks, images, regressor, swap) for swap in (False, True))
    def median(residuals):
        return np.nanmedian(np.linalg.norm(residuals, axis=-1), axis=1)
    swapped = median(exchanged) < median(given)
    return np.where(swapped[:, None, None], exchanged, given), float(swapped.mean())


def fit(residuals, rng):
    """A torso-unit DetectionNoiseModel; joints lacking an annotation in a photo are filled with a
    draw from the same joint's annotated residuals (EM needs complete rows, and the joints are
    modelled independently anyway)."""
    filled = residuals.copy()
    for joint in range(residuals.shape[1]):
        missing = np.isnan(filled[:, joint, 0])
        observed = residuals[~missing, joint]
        filled[missing, joint] = observed[rng.integers(len(observed), size=missing.sum())]
    return fit_detection_noise(rng, filled, COMPONENTS, unit='torso', covariance_floor=COVARIANCE_FLOOR_TORSO2)


def report(residuals):
    """Per-joint annotated count, median and 90th-percentile residual (torso lengths), PCK@0.2."""
    rows = {}
    for joint, canonical in enumerate(DETECTED_JOINTS):
        distance = np.linalg.norm(residuals[:, joint], axis=-1)
        distance = distance[~np.isnan(distance)]
        rows[JOINT_NAMES[canonical]] = {
            'annotated': int(distance.size), 'median_torso': float(np.median(distance)),
            'p90_torso': float(np.quantile(distance, 0.9)), 'pck@0.2': float((distance <= 0.2).mean())}
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--lsp', help='LSP Extended joints.mat (its training split is used; needs --landmarks)')
    source.add_argument('--residuals', help='residuals on real video, in torso lengths '
                                            '(pose3d_eval_real_3d --residuals-2d-out, .npy)')
    parser.add_argument('--landmarks', help="with --lsp: the landmark cache of pose3d_fit_joint_regressor (.npz)")
    parser.add_argument('--regressor', default=str(DEFAULT_JOINT_REGRESSOR), help='joint regressor file')
    parser.add_argument('--out', required=True, help='the noise model to write (.npz; a .json report beside it)')
    parser.add_argument('--upright', action='store_true',
                        help='with --lsp: only photos of upright people (torso near vertical, knees and ankles '
                             'below the hips)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.lsp and not args.landmarks:
        parser.error('--lsp needs --landmarks')
    if args.residuals and (args.landmarks or args.upright):
        parser.error('--landmarks and --upright go with --lsp, not --residuals')
    return cli.run(lambda: fit_command(args))


def read_residuals(path):
    """(views, 16, 2) torso-unit residuals from a .npy file; ValueError naming the file otherwise."""
    try:
        residuals = np.load(path)
    except (OSError, ValueError) as error:
        raise ValueError(f'--residuals {path}: cannot read it ({error})') from None
    if residuals.ndim != 3 or residuals.shape[1:] != (len(DETECTED_JOINTS), 2) or len(residuals) < COMPONENTS:
        raise ValueError(f'--residuals {path}: expected (views, {len(DETECTED_JOINTS)}, 2) with at least '
                         f'{COMPONENTS} views, got {residuals.shape}')
    return residuals.astype(np.float64)


def fit_command(args):
    if args.residuals:
        residuals = read_residuals(args.residuals)
        summary = {'views': len(residuals), 'residuals': str(args.residuals)}
        described = f'{len(residuals)} views of real video'
    else:
        images = load_lsp(args.lsp, split='train')
        landmarks = read_landmark_cache(args.landmarks, images)
        if args.upright:
            keep = [image.people[0].is_upright() for image in images]
            images, landmarks = [image for image, kept in zip(images, keep) if kept], landmarks[keep]
        residuals, exchanged = best_labelling(landmarks, images, JointRegressor(args.regressor))
        summary = {'photos': len(residuals), 'of': len(images), 'upright_only': args.upright,
                   'labels_left_right_exchanged': exchanged,
                   'landmarks': str(args.landmarks), 'regressor': str(args.regressor)}
        described = (f'{len(residuals)} of {len(images)} {"upright " if args.upright else ""}training photos with '
                     f'a person found; {exchanged:.1%} scored with left and right exchanged')
    model = fit(residuals, np.random.default_rng(args.seed))
    model.save(args.out)
    summary['per_joint'] = report(residuals)
    atomic_write(Path(args.out).with_suffix('.json'), lambda file: file.write(json.dumps(summary, indent=1).encode()))
    print(described)
    print(f'{"joint":12s} {"annotated":>9s} {"median":>7s} {"p90":>6s} {"pck@0.2":>7s}  (torso lengths)')
    for name, values in summary['per_joint'].items():
        print(f'{name:12s} {values["annotated"]:9d} {values["median_torso"]:7.3f} {values["p90_torso"]:6.3f} '
              f'{values["pck@0.2"]:7.3f}')
    print(f'wrote {args.out}')
