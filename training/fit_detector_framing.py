"""Measure how the drpose3d front end should frame a person BlazePose's detector finds.

    pose3d_fit_detector_framing --lsp ../shared/data/lspet/joints.mat --json runs/eval_2d/detector_framing.json

The hourglass learned people framed by the square around their annotated joints grown by
TRACKING_MARGIN (training.datasets.photo_crops.person_box); the detector draws a wider ROI (hip
centre to a point above the head, MediaPipe's margin). On LSP Extended training photos whose 14
joints are all annotated, the detector's best find (a full search) whose ROI centre lies within half
the annotated box of the annotated person's centre is compared: the ratio of the two sides, whose
median is drpose3d.DETECTOR_FRAMING.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pose3d_ros.atomic import atomic_write
from pose3d_ros.paths import DEFAULT_CACHE_DIR
from training import cli
from training.datasets.keypoints import load_lsp
from training.datasets.photo_crops import person_box


def framing_ratios(detector, images):
    """(annotated box side / detector ROI side, whether the person is upright) per photo where the
    detector found the annotated person."""
    from pose3d_ros.inference.blazepose import person_roi

    ratios, upright = [], []
    for image in tqdm(images, desc='photos', unit='photo'):
        rgb, person = image.read_image(), image.people[0]
        detector.reset()
        detections = detector(rgb, detector.search_views(rgb.shape, full=True))
        if not detections:
            continue
        roi = person_roi(detections[0][2])
        center, side = person_box(person)
        if np.linalg.norm(roi.center - center) <= side / 2:
            ratios.append(side / roi.side)
            upright.append(person.is_upright())
    return np.array(ratios), np.array(upright, bool)


def evaluate(args):
    from pose3d_ros.inference import blazepose
    from pose3d_ros.inference.backends import make_backend, set_process_threads
    from pose3d_ros.models.blazepose_release import model_path

    set_process_threads('onnxruntime', args.threads)
    images = [image for image in load_lsp(args.lsp, split='train') if image.people[0].annotated.all()]
    images = images[::args.every][:args.count]
    network = make_backend('blazepose_detector', model_path('pose_detection.tflite', args.cache_dir), 'onnxruntime',
                           threads=args.threads, cache_dir=args.cache_dir)
    ratios, upright = framing_ratios(blazepose.PersonDetector(network), images)
    if not len(ratios):
        raise ValueError(f'{args.lsp}: the detector found none of the {len(images)} annotated people')
    report = {
        'data': f'{args.lsp}: LSP Extended training split, every {args.every}th photo with 14 joints annotated',
        'photos': len(images), 'found': len(ratios),
        'median': float(np.median(ratios)), 'quartiles': np.percentile(ratios, [25, 75]).tolist(),
        'upright': int(upright.sum()), 'upright_median': float(np.median(ratios[upright])) if upright.any() else None,
    }
    print(f"{report['found']} of {report['photos']} photos: annotated box side / detector ROI side, median "
          f"{report['median']:.3f} (quartiles {report['quartiles'][0]:.3f}-{report['quartiles'][1]:.3f}); "
          f"{report['upright']} upright people: {report['upright_median']}")
    if args.json:
        atomic_write(Path(args.json), lambda file: file.write(json.dumps(report, indent=1).encode()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lsp', required=True, help='LSP Extended joints.mat (images/ beside it)')
    parser.add_argument('--every', type=int, default=10, help='take every Nth annotated training photo')
    parser.add_argument('--count', type=int, default=500, help='at most this many photos')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR))
    parser.add_argument('--json', help='write the report here')
    args = parser.parse_args(argv)
    return cli.run(lambda: evaluate(args))


if __name__ == '__main__':
    raise SystemExit(main())
