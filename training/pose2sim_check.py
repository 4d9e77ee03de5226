"""Check the Pose2Sim demo calibration on real images: MediaPipe Pose (the reference venv of
bench/mediapipe_reference) finds its 33 landmarks in each of the four Demo_SinglePerson videos,
they are triangulated across the views, and the reprojection error per camera, the bone lengths,
left against right, and the height of the feet above the floor (world z = 0) are printed.

Read right, the calibration gives median errors of 8-17 px per camera with the heavy model (the
default: MediaPipe's landmarks are that coarse on 1080 x 1920 frames, and cam01 and cam03 sit
about 12 px off, see their mean residuals), thighs and shins of 0.36-0.40 m on both sides and feet
~0.1 m above the floor. A wrong conversion gives hundreds of pixels: 100 px median with the
camera's y and z axes unflipped, 300 px with the rotation transposed, 2400 px with focal lengths
left in sensor units. (The full model, --complexity 1, swaps left and right in cam02 for frames
45-74, which the plain DLT does not survive: 90th percentiles of 70-260 px.)

    .venv/bin/python -m training.pose2sim_check [--cache-dir DIR] [--complexity {0,1,2}]
        [--static] [--min-confidence C] [--refine-iterations N] [--mediapipe-python PATH]
        [--json OUT]

Needs the network once (fetch_demo downloads the Pose2Sim wheel into --cache-dir) and the
reference venv (bench/mediapipe_reference/setup). About a minute on 2 cores.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pose3d_ros.paths import DEFAULT_CACHE_DIR
from training.datasets.pose2sim import (CALIBRATION_FILE, CAMERA_NAMES, fetch_demo, load_qca_calibration,
                                        triangulate)

ROOT = Path(__file__).resolve().parents[1]
MEDIAPIPE_DIR = ROOT / 'bench' / 'mediapipe_reference'
DEMO = 'Demo_SinglePerson'
# MediaPipe landmark indices of each bone: (left, right), the person's sides.
BONES = {
    'upper arm': ((11, 13), (12, 14)),
    'forearm': ((13, 15), (14, 16)),
    'thigh': ((23, 25), (24, 26)),
    'shin': ((25, 27), (26, 28)),
    'foot': ((29, 31), (30, 32)),  # heel to toe
}
WIDTHS = {'shoulders': (11, 12), 'hips': (23, 24)}
LIMB_JOINTS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # shoulders to ankles: no face, hands, feet
FEET = {'heels': [29, 30], 'toes': [31, 32]}  # their height tells where the floor is


def detect_landmarks(video, python, complexity, static, folder):
    """MediaPipe on every frame of `video`, in the reference venv -> (landmarks (N, 33, 5), meta)."""
    output = Path(folder) / f'{Path(video).stem}.npz'
    command = [str(python), str(MEDIAPIPE_DIR / 'run_mediapipe.py'), str(video), str(output),
               '--complexity', str(complexity), *(['--static'] if static else [])]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if completed.returncode:
        raise RuntimeError(f'{" ".join(command)} failed:\n{completed.stderr[-2000:]}')
    print(completed.stdout.strip())
    with np.load(output) as result:
        return result['landmarks'], json.loads(str(result['meta']))


def percentiles(values, *qs):
    values = values[np.isfinite(values)]
    return [float(np.percentile(values, q)) if values.size else float('nan') for q in qs]


def reprojection_report(cameras, landmarks, points, min_confidence):
    """Per camera: median and 90th percentile pixel error over all 33 landmarks and over the limb
    joints, the mean residual (dx, dy) and the number of points counted."""
    report = {}
    for camera, seen in zip(cameras, landmarks):
        counted = (seen[..., 3] >= min_confidence) & np.all(np.isfinite(points), axis=-1)
        residuals = camera.project(points) - seen[..., :2]
        errors = np.where(counted, np.linalg.norm(residuals, axis=-1), np.nan)
        report[camera.name] = {'all_px': percentiles(errors, 50, 90),
                               'limbs_px': percentiles(errors[:, LIMB_JOINTS], 50, 90),
                               'mean_residual_px': residuals[counted].mean(axis=0).tolist(),
                               'points': int(counted.sum())}
    return report


def bone_report(points):
    """Median and 10th-90th percentile length over frames, metres, of each bone, left and right."""
    def lengths(pair):
        return np.linalg.norm(points[:, pair[0]] - points[:, pair[1]], axis=-1)
    report = {name: {side: percentiles(lengths(pair), 50, 10, 90)
                     for side, pair in zip(('left', 'right'), pairs)}
              for name, pairs in BONES.items()}
    report.update({name: {'both': percentiles(lengths(pair), 50, 10, 90)} for name, pair in WIDTHS.items()})
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description='Check the Pose2Sim demo calibration: triangulate MediaPipe '
                                                 'landmarks across its four cameras; print reprojection '
                                                 'errors and bone lengths.')
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR),
                        help='the demo goes into CACHE_DIR/pose2sim (default: %(default)s)')
    parser.add_argument('--complexity', type=int, choices=(0, 1, 2), default=2,
                        help='MediaPipe landmark model: 0 lite, 1 full, 2 heavy (default: %(default)s)')
    parser.add_argument('--static', action='store_true', help='MediaPipe image mode (default: video mode)')
    parser.add_argument('--min-confidence', type=float, default=0.5,
                        help='least MediaPipe visibility for a view to count (default: %(default)s)')
    parser.add_argument('--refine-iterations', type=int, default=5,
                        help='Gauss-Newton steps after the DLT (default: %(default)s)')
    parser.add_argument('--mediapipe-python', default=str(MEDIAPIPE_DIR / '.venv' / 'bin' / 'python'),
                        help='python of the reference venv (default: %(default)s)')
    parser.add_argument('--json', help='also write the numbers to this JSON file')
    args = parser.parse_args(argv)
    if not Path(args.mediapipe_python).is_file():
        sys.exit(f'{args.mediapipe_python} not found: build it with bench/mediapipe_reference/setup')

    demo = fetch_demo(args.cache_dir) / DEMO
    calibration = load_qca_calibration(demo / CALIBRATION_FILE)
    cameras = [calibration[name] for name in CAMERA_NAMES]
    with tempfile.TemporaryDirectory() as folder:
        detections = [detect_landmarks(demo / 'videos' / f'{name}.mp4', args.mediapipe_python,
                                       args.complexity, args.static, folder) for name in CAMERA_NAMES]
    for camera, (_, meta) in zip(cameras, detections):
        if (meta['width'], meta['height']) != camera.image_size:
            print(f'note: {camera.name}.mp4 is {meta["width"]} x {meta["height"]}, its calibration '
                  f'{camera.image_size[0]} x {camera.image_size[1]}')
    landmarks = np.stack([found for found, _ in detections])  # (V, frames, 33, 5)
    if len({len(found) for found in landmarks}) != 1:
        sys.exit('the videos differ in length')

    points = np.stack([triangulate(landmarks[:, frame, :, :2], landmarks[:, frame, :, 3], cameras,
                                   args.min_confidence, args.refine_iterations)[0]
                       for frame in range(landmarks.shape[1])])
    summary = {'demo': DEMO, 'complexity': args.complexity, 'static': args.static,
               'min_confidence': args.min_confidence, 'refine_iterations': args.refine_iterations,
               'reprojection': reprojection_report(cameras, landmarks, points, args.min_confidence),
               'bones_m': bone_report(points),
               'floor_height_m': {name: percentiles(points[:, joints, 2], 50, 10, 90)
                                  for name, joints in FEET.items()}}

    print('\nreprojection error, px, median / 90th percentile '
          f'(views with visibility >= {args.min_confidence}):')
    for name, row in summary['reprojection'].items():
        dx, dy = row['mean_residual_px']
        print(f'  {name}: all 33 landmarks {row["all_px"][0]:5.1f} / {row["all_px"][1]:5.1f}   '
              f'limbs (shoulders to ankles) {row["limbs_px"][0]:5.1f} / {row["limbs_px"][1]:5.1f}   '
              f'mean residual ({dx:+.1f}, {dy:+.1f}) over {row["points"]} points')
    print('\nlengths, metres: median (10th-90th percentile) over the frames')
    for name, sides in summary['bones_m'].items():
        print(f'  {name:10s} ' + '   '.join(f'{side} {median:.3f} ({low:.3f}-{high:.3f})'
                                           for side, (median, low, high) in sides.items()))
    print('  ' + '   '.join(f'{name} above the floor (world z) {median:.3f} ({low:.3f}-{high:.3f})'
                            for name, (median, low, high) in summary['floor_height_m'].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
