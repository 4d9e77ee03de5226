"""Export the hourglass, PRCNN and the lifter to ONNX and check each file against PyTorch with
ONNX Runtime.

    pose3d_export_onnx --hourglass runs/hourglass/checkpoint.pt --prcnn runs/prcnn/checkpoint.pt \
        --lifter pose3d_ros/weights/lifter_dpnet.pt --out-dir exported/ [--batch 1 | --dynamic-batch]

Files: hourglass.onnx, prcnn.onnx and lifter.onnx, with the inputs and outputs listed in
pose3d_ros/inference/networks.py. With --dynamic-batch the batch axis is symbolic, else fixed
to --batch. Each export runs once through ONNX Runtime on seeded inputs and the largest absolute
difference from PyTorch is printed; above --tolerance the command fails.
"""
import argparse
import sys
from pathlib import Path

from pose3d_ros.inference.networks import KINDS, MAX_DYNAMIC_BATCH, export_onnx, load_network
from training import cli


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for kind in KINDS:
        parser.add_argument(f'--{kind}', help=f'{kind} checkpoint')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--batch', type=int, default=1, help='fixed batch size (default: %(default)s)')
    parser.add_argument('--dynamic-batch', action='store_true', help=f'symbolic batch axis (1..{MAX_DYNAMIC_BATCH})')
    parser.add_argument('--tolerance', type=float, default=1e-3, help='largest accepted |ONNX - PyTorch|')
    args = parser.parse_args(argv)
    return cli.run(lambda: export_command(args))


def export_command(args):
    checkpoints = {kind: getattr(args, kind) for kind in KINDS if getattr(args, kind)}
    if not checkpoints:
        raise ValueError(f'give at least one of {", ".join("--" + kind for kind in KINDS)}')
    out = Path(args.out_dir)
    for kind, checkpoint in checkpoints.items():
        module, shapes = load_network(kind, checkpoint)
        target = out / f'{kind}.onnx'
        error = export_onnx(kind, module, shapes, target, args.batch, args.dynamic_batch)
        print(f'{target}: max |ONNX Runtime - PyTorch| = {error:.2e}')
        if error > args.tolerance:
            raise ValueError(f'{target}: ONNX Runtime differs from PyTorch by {error:.2e} > {args.tolerance}')


if __name__ == '__main__':
    sys.exit(main())
