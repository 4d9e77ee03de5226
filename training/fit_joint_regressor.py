"""Fit the linear regressor from BlazePose's 33 landmarks to the 14 LSP joints on real photos.

    pose3d_fit_joint_regressor --lsp ../shared/data/lspet/joints.mat \
        --out pose3d_ros/weights/blazepose_joint_regressor.json --cache runs/joint_regressor

BlazePose's landmarks follow its own annotation (its hips sit higher and further in than LSP's,
it has no neck or head top), so the project's joints are regressed from them: each LSP joint is a
weighted sum of a few nearby landmarks (SUPPORT) with weights summing to 1, so the regressor
moves with the person and turns with them, one set of weights for x and y. The weights minimise
the torso-normalized squared error on the LSP Extended training split (im00401-im08400; the
validation split im08401-im10000 is never used here), with a small ridge pull towards the
landmark of the same name (PRIOR), after dropping the worst 20 % of residuals (a wrong person,
left and right swapped, annotation noise: a quarter of these photos have such a gross error) and
fitting again. skeleton.LSP_TO_DETECTED then forms the pelvis and thorax.

The landmarks come from the project's own BlazePose front end in photo mode, one person per
photo: the one whose same-named landmarks lie nearest the annotation. They are cached in
--cache (written atomically every few hundred photos, so an interrupted run resumes).

With --world the cache also keeps each landmark's world position (metres around the hip centre,
camera-aligned axes: its z is the depth) and visibility (WORLD_FIELDS), and covers the validation
split too: the BlazePose teacher's per-joint depths that PRCNN learns to rank from on real photos
(training/datasets/photo_crops.py, teacher_depths). The fit still uses the training split alone.

    pose3d_fit_joint_regressor --lsp ../shared/data/lspet/joints.mat --world \
        --cache runs/joint_regressor --out runs/joint_regressor/regressor_world.json
"""
import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from pose3d_ros.integrity import list_if_shipped
from pose3d_ros.skeleton import BLAZEPOSE_LANDMARK_NAMES, LSP_JOINT_NAMES
from training import cli
from training.datasets.keypoints import load_lsp

LANDMARK = {name: index for index, name in enumerate(BLAZEPOSE_LANDMARK_NAMES)}
FACE = ('nose', 'l_eye', 'r_eye', 'l_ear', 'r_ear', 'mouth_left', 'mouth_right')
SHOULDERS, HIPS = ('l_shoulder', 'r_shoulder'), ('l_hip', 'r_hip')


def _support(joint):
    """The landmarks an LSP joint may be made of: its own and its neighbours."""
    side = joint[:2] if joint[:2] in ('l_', 'r_') else None
    part = joint[2:] if side else joint
    own = {
        'ankle': ('ankle', 'heel', 'foot_index', 'knee'),
        'knee': ('knee', 'hip', 'ankle'),
        'wrist': ('wrist', 'pinky', 'index', 'thumb', 'elbow'),
        'elbow': ('elbow', 'shoulder', 'wrist'),
        'hip': ('knee', 'shoulder'),
        'shoulder': ('elbow', 'hip', 'ear'),
    }
    if part in ('hip', 'shoulder'):
        return (*HIPS, *SHOULDERS) + tuple(side + name for name in own[part] if side + name not in HIPS + SHOULDERS)
    if side:
        return tuple(side + name for name in own[part])
    return FACE + SHOULDERS  # neck, head top


SUPPORT = {joint: _support(joint) for joint in LSP_JOINT_NAMES}
# Where the weights are pulled: the landmark of the same name, or for the neck the shoulders'
# midpoint and for the head top the eyes'.
PRIOR = {joint: {joint} & set(LANDMARK) for joint in LSP_JOINT_NAMES}
PRIOR['neck'], PRIOR['head_top'] = set(SHOULDERS), {'l_eye', 'r_eye'}
RIDGE = 1e-3
TRIM_FRACTION = 0.2
CACHE_EVERY = 250


# What a landmark cache stores per landmark: its pixels, and with --world also these.
PIXEL_FIELDS = ('x', 'y')
WORLD_FIELDS = PIXEL_FIELDS + ('world_x', 'world_y', 'world_z', 'visibility')


def landmark_cache(images, front_end_key, cache_dir, detect, fields=PIXEL_FIELDS):
    """(N, 33, F) landmark values per photo (NaN where nobody was found), F = len(fields), pixels
    first, computed with detect(image) -> list of (33, F) landmark sets, and cached per front end."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f'landmarks-{front_end_key}.npz'
    names = [image.path.name for image in images]
    landmarks = np.full((len(images), len(BLAZEPOSE_LANDMARK_NAMES), len(fields)), np.nan)
    done = np.zeros(len(images), bool)
    if path.is_file():
        saved = np.load(path)
        if saved['landmarks'].shape[-1] != len(fields):
            raise ValueError(f'{path}: stores {saved["landmarks"].shape[-1]} values per landmark, not the '
                             f'{len(fields)} of {fields}; move it away or use another --cache')
        cached = dict(zip(saved['names'].tolist(), range(len(saved['names']))))
        for row, name in enumerate(names):
            if name in cached and saved['done'][cached[name]]:
                landmarks[row], done[row] = saved['landmarks'][cached[name]], True

    def save():
        def write(file):
            np.savez(file, names=np.array(names), landmarks=landmarks, done=done)
        atomic_write(path, write)

    todo = np.nonzero(~done)[0]
    for count, row in enumerate(tqdm(todo, desc='BlazePose on photos', unit='photo', disable=not len(todo))):
        person = images[row].people[0]
        found = detect(images[row].read_image())
        if found:
            landmarks[row] = min(found, key=lambda points: _identity_distance(points, person))
        done[row] = True
        if (count + 1) % CACHE_EVERY == 0:
            save()
    if len(todo):
        save()
    return landmarks


def read_landmark_cache(path, images, fields=PIXEL_FIELDS):
    """landmark_cache's file -> (N, 33, F) landmark values of `images` (NaN where nobody was
    found), the `fields` (PIXEL_FIELDS or WORLD_FIELDS) of those it stores; ValueError naming the
    file when it cannot be read, stores fewer fields or lacks one of the photos."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            names, landmarks, done = saved['names'].tolist(), saved['landmarks'], saved['done']
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f'{path}: not a landmark cache ({error}); pose3d_fit_joint_regressor --cache writes it') from None
    if landmarks.shape[-1] < len(fields):
        raise ValueError(f'{path}: stores {landmarks.shape[-1]} values per landmark, not the {len(fields)} of '
                         f'{fields}; pose3d_fit_joint_regressor --world writes them')
    row = {name: index for index, name in enumerate(names)}
    missing = [image.path.name for image in images if image.path.name not in row or not done[row[image.path.name]]]
    if missing:
        raise ValueError(f'{path}: no landmarks for {len(missing)} of the {len(images)} photos (e.g. {missing[0]}); '
                         'run pose3d_fit_joint_regressor with the same front end (and --world for world landmarks) first')
    return landmarks[[row[image.path.name] for image in images]][..., :len(fields)]


def _identity_distance(points, person):
    """Mean distance between the annotated limb joints and the landmarks of the same name."""
    pairs = [(k, LANDMARK[name]) for k, name in enumerate(LSP_JOINT_NAMES)
             if name in LANDMARK and person.annotated[k]]
    if not pairs:
        return np.inf
    joints, marks = zip(*pairs)
    return float(np.linalg.norm(person.joints[list(joints)] - points[list(marks), :2], axis=1).mean())


def fit_joint(landmarks, targets, scale, support, prior):
    """Weights over `support` (landmark indices) summing to 1 that minimise
    sum ||landmarks[:, support] @ w - targets||^2 / scale^2 + RIDGE * n * ||w - prior||^2.
    landmarks (n, 33, 2), targets (n, 2), scale (n,)."""
    design = (landmarks[:, support, :] / scale[:, None, None]).transpose(0, 2, 1).reshape(-1, len(support))
    goal = (targets / scale[:, None]).reshape(-1)
    ridge = RIDGE * len(targets)
    size = len(support)
    system = np.zeros((size + 1, size + 1))
    system[:size, :size] = 2 * (design.T @ design + ridge * np.eye(size))
    system[:size, size] = system[size, :size] = 1.0
    right = np.concatenate([2 * (design.T @ goal + ridge * prior), [1.0]])
    return np.linalg.solve(system, right)[:size]


def fit(landmarks, images):
    """(14, 33) weights and a per-joint report from the photos' landmarks and annotations."""
    people = [image.people[0] for image in images]
    scale = np.array([person.torso_size() for person in people])
    found = ~np.isnan(landmarks).any(axis=(1, 2)) & (scale > 0)
    weights = np.zeros((len(LSP_JOINT_NAMES), len(BLAZEPOSE_LANDMARK_NAMES)))
    report = {}
    for joint, name in enumerate(LSP_JOINT_NAMES):
        support = [LANDMARK[landmark] for landmark in SUPPORT[name]]
        prior = prior_weights()[joint, support]
        rows = found & np.array([person.annotated[joint] for person in people])
        targets = np.stack([person.joints[joint] for person in people])[rows]
        marks, sizes = landmarks[rows], scale[rows]
        kept = np.ones(rows.sum(), bool)
        for _ in range(3):  # fit, drop the worst residuals, fit again
            w = fit_joint(marks[kept], targets[kept], sizes[kept], support, prior)
            residual = np.linalg.norm(marks[:, support, :].transpose(0, 2, 1) @ w - targets, axis=1) / sizes
            kept = residual <= np.quantile(residual, 1 - TRIM_FRACTION)
        weights[joint, support] = w
        before = np.linalg.norm(marks[:, support, :].transpose(0, 2, 1) @ prior - targets, axis=1) / sizes
        report[name] = {
            'samples': int(rows.sum()),
            'median_residual_torso': float(np.median(residual)),
            'median_residual_px': float(np.median(residual * sizes)),
            'pck@0.2': float((residual <= 0.2).mean()),
            'pck@0.2_before_fit': float((before <= 0.2).mean()),
            'weights': {BLAZEPOSE_LANDMARK_NAMES[k]: round(float(v), 4) for k, v in zip(support, w) if abs(v) > 1e-4}}
    return weights, report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lsp', required=True, help='LSP Extended joints.mat (images/ beside it)')
    parser.add_argument('--out', required=True, help='the regressor file to write (JSON)')
    parser.add_argument('--cache', default='runs/joint_regressor', help='folder of the landmark cache')
    parser.add_argument('--landmark-model', default='full', choices=('lite', 'full', 'heavy'))
    parser.add_argument('--backend', default='onnxruntime')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads of the backend')
    parser.add_argument('--limit', type=int, default=None, help='use only the first N training photos')
    parser.add_argument('--landmark-flip-test', action='store_true',
                        help='the landmark model also reads each crop mirrored, the two averaged (its own cache file)')
    parser.add_argument('--world', action='store_true',
                        help='cache the world landmarks and visibility too (WORLD_FIELDS), for the validation '
                             'split as well: the PRCNN teacher\'s depths (its own cache file)')
    parser.add_argument('--prior-only', action='store_true',
                        help='fit nothing: write the regressor each joint is pulled towards (the landmark of '
                             'the same name; the neck, the shoulders\' midpoint; the head top, the eyes\'), '
                             'the baseline the fit is measured against')
    args = parser.parse_args(argv)
    return cli.run(lambda: prior_command(args) if args.prior_only else fit_command(args))


def prior_weights():
    """(14, 33): each LSP joint as the mean of its PRIOR landmarks."""
    weights = np.zeros((len(LSP_JOINT_NAMES), len(BLAZEPOSE_LANDMARK_NAMES)))
    for joint, name in enumerate(LSP_JOINT_NAMES):
        for landmark in PRIOR[name]:
            weights[joint, LANDMARK[landmark]] = 1 / len(PRIOR[name])
    return weights


def write_regressor(path, saved):
    """Write the regressor file atomically (into pose3d_ros/weights/: listed in its SHA256SUMS)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: file.write(json.dumps(saved, indent=1).encode()))
    list_if_shipped(path)


def prior_command(args):
    saved = {'landmarks': list(BLAZEPOSE_LANDMARK_NAMES), 'joints': list(LSP_JOINT_NAMES),
             'weights': prior_weights().tolist(), 'fitted_on': 'nothing: the prior (same-name landmarks)'}
    write_regressor(args.out, saved)
    print(f'wrote {args.out}')


def fit_command(args):
    from pose3d_ros.inference.backends import set_process_threads
    from pose3d_ros.inference.blazepose import FrontEndSettings
    from pose3d_ros.inference.pipeline import build_pipeline
    from pose3d_ros.models.blazepose_release import model_path

    images = load_lsp(args.lsp, split='train')[:args.limit]
    photos = images + (load_lsp(args.lsp, split='validation')[:args.limit] if args.world else [])
    fields = WORLD_FIELDS if args.world else PIXEL_FIELDS
    set_process_threads(args.backend, args.threads)
    settings = FrontEndSettings(static=True, landmark_flip_test=args.landmark_flip_test)
    pipeline = build_pipeline('blazepose', landmark_model=args.landmark_model, backend=args.backend,
                              threads=args.threads, settings=settings)
    model_files = (model_path('pose_detection.tflite'), model_path(f'pose_landmark_{args.landmark_model}.tflite'))
    key = hashlib.sha256(b''.join(path.read_bytes() for path in model_files)).hexdigest()[:12]

    def detect(image):
        count = len(BLAZEPOSE_LANDMARK_NAMES)
        return [np.concatenate([found.points[:count, :2], found.world[:count], found.visibility[:count, None]],
                               axis=1)[:, :len(fields)]
                for found in (person.landmarks for person in pipeline.people(image))]

    started = time.perf_counter()
    front_end = (f'{args.landmark_model}-refine{settings.refine_passes}-turns{"".join(map(str, settings.detector_turns))}'
                 f'-tiles{settings.detector_tiles}{"-flip" if settings.landmark_flip_test else ""}')
    key = f'{front_end}{"-world" if args.world else ""}-{key}'
    landmarks = landmark_cache(photos, key, args.cache, detect, fields)[:len(images), :, :2]
    weights, report = fit(landmarks, images)
    saved = {
        'landmarks': list(BLAZEPOSE_LANDMARK_NAMES), 'joints': list(LSP_JOINT_NAMES), 'weights': weights.tolist(),
        'fitted_on': f'LSP Extended training split ({Path(args.lsp)}, im00401-im08400): '
                     f'{int((~np.isnan(landmarks).any(axis=(1, 2))).sum())} of {len(images)} photos with a person found',
        'landmark_model': f'pose_landmark_{args.landmark_model}.tflite', 'front_end': front_end,
        'command': ' '.join(sys.argv),
        'report': report}
    write_regressor(args.out, saved)
    print(f'{"joint":<12} {"samples":>7} {"median px":>9} {"median/torso":>12} {"PCK@0.2":>8} {"before":>7}')
    for name, row in report.items():
        print(f'{name:<12} {row["samples"]:7d} {row["median_residual_px"]:9.2f} {row["median_residual_torso"]:12.3f} '
              f'{row["pck@0.2"]:8.3f} {row["pck@0.2_before_fit"]:7.3f}')
    print(f'wrote {args.out} ({time.perf_counter() - started:.0f} s)')


if __name__ == '__main__':
    sys.exit(main())
