"""Latency of the hourglass and PRCNN through ONNX Runtime on the CPU (issue 5's 15 ms budget).

    .venv/bin/python bench/image_models.py --threads 2
    .venv/bin/python bench/image_models.py --hourglass pose3d_ros/weights/hourglass_small.pt \
        --prcnn pose3d_ros/weights/prcnn_small.pt --threads 2
    .venv/bin/python bench/image_models.py --hourglass-sizes 2x64@128 2x128@128 4x128@128 --threads 2

Without checkpoints it builds the default (`*_small.yaml`) architectures with random weights:
latency does not depend on the weight values. Exports both to ONNX (batch 1), then runs each
session --warmup times and times --runs single-frame runs, printing median, 10th-90th percentile
spread and the sum of the two medians. --hourglass-sizes times only hourglasses of the given
sizes (STACKSxCHANNELS@PIXELS, depth 4, random weights), to choose one for a latency budget.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose3d_ros.inference.pytorch import example_inputs, export_onnx, image_input_shapes, load_network  # noqa: E402
from pose3d_ros.models.hourglass import LastStack, build_hourglass  # noqa: E402
from pose3d_ros.models.prcnn import build_prcnn  # noqa: E402

CONFIGS = ROOT / 'training' / 'configs' / 'image'


def default_network(kind):
    """The `*_small.yaml` architecture with random weights -> (deployed module, input shapes)."""
    config = yaml.safe_load((CONFIGS / f'{kind}_small.yaml').read_text())
    size = config['data']['input_size']
    if kind == 'hourglass':
        return LastStack(build_hourglass(config['model'])).eval(), image_input_shapes(size)
    model = build_prcnn(config['model']).eval()
    return model, image_input_shapes(size, model.joints)


def hourglass_size(text):
    """'STACKSxCHANNELS@PIXELS' (argparse type) -> (text, hourglass model spec, input size)."""
    try:
        layers, pixels = text.split('@')
        stacks, channels = (int(value) for value in layers.split('x'))
        size = int(pixels)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected STACKSxCHANNELS@PIXELS, e.g. 2x64@128, got {text!r}') from None
    return text, {'type': 'hourglass', 'stacks': stacks, 'channels': channels, 'depth': 4}, size


def time_session(path, feeds, threads, warmup, runs):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    for _ in range(warmup):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hourglass', help='hourglass checkpoint (default: the small architecture)')
    parser.add_argument('--prcnn', help='PRCNN checkpoint (default: the small architecture)')
    parser.add_argument('--hourglass-sizes', nargs='+', type=hourglass_size, metavar='STACKSxCHANNELS@PIXELS',
                        help='time only hourglasses of these sizes (random weights), e.g. 2x64@128 4x128@128')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--runs', type=int, default=200)
    args = parser.parse_args(argv)
    if args.hourglass_sizes:
        for text, spec, size in args.hourglass_sizes:
            time_network('hourglass', LastStack(build_hourglass(spec)).eval(), image_input_shapes(size), args, text)
        return
    medians = {kind: time_network(kind, *(load_network(kind, path) if path else default_network(kind)), args)
               for kind, path in (('hourglass', args.hourglass), ('prcnn', args.prcnn))}
    print(f'both       median sum {sum(medians.values()):6.2f} ms per frame')


def time_network(kind, module, shapes, args, label=None):
    """Export to ONNX, time it in ONNX Runtime, print a line -> median ms."""
    size = shapes['image'][-1]
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = Path(folder) / f'{kind}.onnx'
        export_onnx(kind, module, shapes, onnx_path)
        feeds = {name: tensor.numpy() for name, tensor in example_inputs(kind, shapes).items()}
        times = time_session(onnx_path, feeds, args.threads, args.warmup, args.runs)
    median = float(np.median(times))
    low, high = np.percentile(times, [10, 90])
    print(f'{label or kind:<10} {size}x{size}  median {median:6.2f} ms  p10-p90 {low:.2f}-{high:.2f} ms  '
          f'({args.runs} runs, {args.threads} threads)', flush=True)
    return median


if __name__ == '__main__':
    main()
