"""Export the networks to ONNX as a model bundle, each file checked against PyTorch with ONNX Runtime.

    pose3d_export_onnx --blazepose full --lifter pose3d_ros/weights/lifter_dpnet_video_noise.pt --out-dir bundle/
    pose3d_export_onnx --hourglass runs/hourglass/checkpoint.pt --prcnn runs/prcnn/checkpoint.pt \
        --lifter pose3d_ros/weights/lifter_dpnet_video_noise.pt --out-dir exported/ [--batch 1 | --dynamic-batch]

Files: <kind>.onnx for each network given (hourglass, prcnn, lifter; --blazepose: BlazePose's
blazepose_detector and the named landmark model as blazepose_landmarks, from the files
pose3d_fetch_blazepose put in --cache-dir), with the inputs and outputs listed in
pose3d_ros/inference/networks.py, and manifest.json (pose3d_ros/inference/bundle.py: each file's
role, input and output shapes, sha256, source checkpoint, exporter, opset and versions; the
joint sets; the package version). With --dynamic-batch the batch axis is symbolic, else fixed to
--batch; the nodes (`model_bundle`) and `pose3d_build_engines --bundle` run batch 1, the default.
Each export runs once through ONNX Runtime on seeded inputs and the largest absolute difference
from PyTorch is printed; above the network's tolerance (TOLERANCES, in its outputs' units, or
--tolerance for all) the command fails.
"""
import argparse
import sys
from pathlib import Path

from pose3d_ros.inference.bundle import write_bundle
from pose3d_ros.inference.networks import MAX_DYNAMIC_BATCH
from pose3d_ros.inference.pipeline import LANDMARK_MODELS
from pose3d_ros.inference.pytorch import export_checkpoint
from pose3d_ros.models.blazepose_release import model_path
from pose3d_ros.paths import DEFAULT_CACHE_DIR
from training import cli

CHECKPOINT_KINDS = ('hourglass', 'prcnn', 'lifter')
# Largest accepted |ONNX Runtime - PyTorch| in each network's output units: heatmaps and depth
# scores; millimetres; pixels of BlazePose's 224 and 256 px inputs.
TOLERANCES = {'hourglass': 1e-3, 'prcnn': 1e-3, 'lifter': 1e-2, 'blazepose_detector': 1e-2,
              'blazepose_landmarks': 1e-2}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for kind in CHECKPOINT_KINDS:
        parser.add_argument(f'--{kind}', help=f'{kind} checkpoint')
    parser.add_argument('--blazepose', choices=LANDMARK_MODELS, help='BlazePose\'s detector and this landmark model')
    parser.add_argument('--cache-dir', default=str(DEFAULT_CACHE_DIR),
                        help='where pose3d_fetch_blazepose put the BlazePose files (default: %(default)s)')
    parser.add_argument('--out-dir', required=True, help='the bundle folder')
    parser.add_argument('--batch', type=int, default=1, help='fixed batch size (default: %(default)s)')
    parser.add_argument('--dynamic-batch', action='store_true', help=f'symbolic batch axis (1..{MAX_DYNAMIC_BATCH})')
    parser.add_argument('--tolerance', type=float,
                        help=f'largest accepted |ONNX - PyTorch| for every network (default: {TOLERANCES})')
    args = parser.parse_args(argv)
    return cli.run(lambda: export_command(args))


def export_command(args):
    checkpoints = {kind: getattr(args, kind) for kind in CHECKPOINT_KINDS if getattr(args, kind)}
    if args.blazepose:
        try:
            checkpoints['blazepose_detector'] = model_path('pose_detection.tflite', args.cache_dir)
            checkpoints['blazepose_landmarks'] = model_path(f'pose_landmark_{args.blazepose}.tflite', args.cache_dir)
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
    if not checkpoints:
        raise ValueError(f'give at least one of {", ".join("--" + kind for kind in (*CHECKPOINT_KINDS, "blazepose"))}')
    out = Path(args.out_dir)
    models = []
    for kind, checkpoint in checkpoints.items():
        model = export_checkpoint(kind, checkpoint, out / f'{kind}.onnx', args.batch, args.dynamic_batch)
        print(f'{model.path}: max |ONNX Runtime - PyTorch| = {model.max_abs_error:.2e} ({model.exporter} exporter)')
        tolerance = TOLERANCES[kind] if args.tolerance is None else args.tolerance
        if model.max_abs_error > tolerance:
            raise ValueError(f'{model.path}: ONNX Runtime differs from PyTorch by {model.max_abs_error:.2e} > '
                             f'{tolerance}')
        models.append(model)
    bundle = write_bundle(out, models)
    print(f'{out / "manifest.json"}: bundle of {", ".join(model.kind for model in bundle.models)}')


if __name__ == '__main__':
    sys.exit(main())
