"""Slim a training checkpoint into a shipped lifter: weights (fp16 by default), normalization,
model and data description, no optimizer state.

    pose3d_export_lifter --checkpoint runs/lifter/dpnet_hg_noisy/checkpoint.pt \
        --out pose3d_ros/weights/lifter_dpnet.pt
"""
import argparse
import sys

import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.models.lifter import CHECKPOINT_FORMAT, load_lifter
from training import cli


def export(checkpoint_path, out, fp16=True):
    """Write the slim checkpoint atomically; returns it."""
    model, checkpoint = load_lifter(checkpoint_path)
    state = {name: value.half() if fp16 and value.is_floating_point() else value
             for name, value in model.state_dict().items()}
    slim = {'format': CHECKPOINT_FORMAT, 'model': checkpoint['model'], 'data': checkpoint['data'],
            'state_dict': state, 'epoch': checkpoint.get('epoch'),
            'history': checkpoint.get('history', []), 'config': checkpoint.get('config')}
    atomic_write(out, lambda file: torch.save(slim, file))
    return slim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, help='training checkpoint')
    parser.add_argument('--out', required=True, help='shipped checkpoint to write')
    parser.add_argument('--fp32', action='store_true', help='keep float32 weights')
    args = parser.parse_args(argv)
    return cli.run(lambda: export(args.checkpoint, args.out, fp16=not args.fp32))


if __name__ == '__main__':
    sys.exit(main())
