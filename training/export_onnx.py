"""Export the hourglass and PRCNN to ONNX and check each file against PyTorch with ONNX Runtime.

    pose3d_export_onnx --hourglass runs/hourglass/checkpoint.pt --prcnn runs/prcnn/checkpoint.pt \
        --out-dir exported/ [--batch 1 | --dynamic-batch]

Files: hourglass.onnx (input `image` (B, 3, S, S) RGB in [0, 1]; output `heatmaps`, the last
stack, (B, J, S/4, S/4)) and prcnn.onnx (inputs `image` and `heatmaps`; output `depth_scores`
(B, J)). With --dynamic-batch the batch axis is symbolic, else fixed to --batch. Each export
runs once through ONNX Runtime on random inputs and the largest absolute difference from
PyTorch is printed; above --tolerance the command fails.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from pose3d_ros.atomic import atomic_write
from pose3d_ros.models.hourglass import HEATMAP_STRIDE, load_hourglass
from pose3d_ros.models.prcnn import load_prcnn
from training import cli

OPSET = 18
MAX_DYNAMIC_BATCH = 64


class LastStack(torch.nn.Module):
    """The hourglass as deployed: only the last stack's heatmaps."""

    def __init__(self, hourglass):
        super().__init__()
        self.hourglass = hourglass

    def forward(self, image):
        return self.hourglass(image)[-1]


def example_inputs(kind, model, input_size, batch, seed=0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, input_size, input_size, generator=generator)
    if kind == 'hourglass':
        return {'image': image}
    side = input_size // HEATMAP_STRIDE
    return {'image': image, 'heatmaps': torch.rand(batch, model.joints, side, side, generator=generator)}


def export_onnx(kind, model, input_size, path, batch=1, dynamic_batch=False):
    """Write model (hourglass or PRCNN, eval mode) to `path` atomically -> max abs error vs PyTorch."""
    module = LastStack(model) if kind == 'hourglass' else model
    module.eval()
    inputs = example_inputs(kind, model, input_size, batch)
    output_names = ['heatmaps'] if kind == 'hourglass' else ['depth_scores']
    dynamic_shapes = None
    if dynamic_batch:
        batch_dim = torch.export.Dim('batch', min=1, max=MAX_DYNAMIC_BATCH)
        dynamic_shapes = {name: {0: batch_dim} for name in inputs}
    names = dict(zip(inputs, ('image', 'heatmaps')))
    with torch.no_grad():
        program = torch.onnx.export(module, tuple(inputs.values()), None, dynamo=True, opset_version=OPSET,
                                    input_names=list(names.values()), output_names=output_names,
                                    dynamic_shapes=dynamic_shapes and tuple(dynamic_shapes.values()),
                                    verbose=False)
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / 'model.onnx'
        program.save(str(staged))
        data = staged.read_bytes()
    atomic_write(path, lambda file: file.write(data))
    check_batch = 3 if dynamic_batch else batch
    return onnx_max_abs_error(kind, module, model, input_size, path, check_batch)


def onnx_max_abs_error(kind, module, model, input_size, path, batch):
    """Largest |ONNX Runtime - PyTorch| over the output, on seeded random inputs."""
    import onnxruntime

    inputs = example_inputs(kind, model, input_size, batch, seed=1)
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    feeds = {name: tensor.numpy() for name, tensor in zip(('image', 'heatmaps'), inputs.values())}
    onnx_output = session.run(None, feeds)[0]
    with torch.no_grad():
        torch_output = module(*inputs.values()).numpy()
    return float(np.abs(onnx_output - torch_output).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hourglass', help='hourglass checkpoint')
    parser.add_argument('--prcnn', help='PRCNN checkpoint')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--batch', type=int, default=1, help='fixed batch size (default: %(default)s)')
    parser.add_argument('--dynamic-batch', action='store_true', help=f'symbolic batch axis (1..{MAX_DYNAMIC_BATCH})')
    parser.add_argument('--tolerance', type=float, default=1e-3, help='largest accepted |ONNX - PyTorch|')
    args = parser.parse_args(argv)
    return cli.run(lambda: export_command(args))


def export_command(args):
    if not (args.hourglass or args.prcnn):
        raise ValueError('give --hourglass, --prcnn or both')
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind, path, load in (('hourglass', args.hourglass, load_hourglass), ('prcnn', args.prcnn, load_prcnn)):
        if not path:
            continue
        model, checkpoint = load(path)
        target = out / f'{kind}.onnx'
        error = export_onnx(kind, model, checkpoint['input_size'], target, args.batch, args.dynamic_batch)
        print(f'{target}: max |ONNX Runtime - PyTorch| = {error:.2e}')
        if error > args.tolerance:
            raise ValueError(f'{target}: ONNX Runtime differs from PyTorch by {error:.2e} > {args.tolerance}')


if __name__ == '__main__':
    sys.exit(main())
