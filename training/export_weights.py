"""Slim a training checkpoint (lifter, hourglass or PRCNN) into shipped weights: the weights
(fp16 by default), the model description, data settings and history, no optimizer state.

    pose3d_export_weights --checkpoint runs/lifter/dpnet_hg_noisy/checkpoint.pt \
        --out pose3d_ros/weights/lifter_dpnet_h36m.pt
"""
import argparse
import sys

import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.integrity import list_if_shipped
from pose3d_ros.models import hourglass, lifter, prcnn
from training import cli

LOADERS = {lifter.CHECKPOINT_FORMAT: lifter.load_lifter, hourglass.CHECKPOINT_FORMAT: hourglass.load_hourglass,
           prcnn.CHECKPOINT_FORMAT: prcnn.load_prcnn}
# What a shipped checkpoint keeps besides the weights (those a loader needs, and the provenance).
KEPT = ('format', 'model', 'data', 'input_size', 'epoch', 'history', 'config')


def checkpoint_format(path):
    """The 'format' of a project checkpoint; ValueError naming the file otherwise."""
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise ValueError(f'{path}: checkpoint not found') from None
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise ValueError(f'{path}: not a readable checkpoint ({type(error).__name__})') from None
    kind = checkpoint.get('format') if isinstance(checkpoint, dict) else None
    if kind not in LOADERS:
        raise ValueError(f'{path}: checkpoint format {kind!r} is none of {sorted(LOADERS)}')
    return kind


def export(checkpoint_path, out, fp16=True):
    """Write the slim checkpoint atomically (into pose3d_ros/weights/: listed in its SHA256SUMS);
    returns it."""
    model, checkpoint = LOADERS[checkpoint_format(checkpoint_path)](checkpoint_path)
    state = {name: value.half() if fp16 and value.is_floating_point() else value
             for name, value in model.state_dict().items()}
    slim = {key: checkpoint[key] for key in KEPT if key in checkpoint}
    slim['state_dict'] = state
    atomic_write(out, lambda file: torch.save(slim, file))
    list_if_shipped(out)
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
