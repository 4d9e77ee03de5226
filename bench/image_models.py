"""Latency of the hourglass and PRCNN through ONNX Runtime on the CPU (issue 5's 15 ms budget).

    .venv/bin/python bench/image_models.py --threads 2
    .venv/bin/python bench/image_models.py --hourglass pose3d_ros/weights/hourglass_small.pt \
        --prcnn pose3d_ros/weights/prcnn_small.pt --threads 2

Without checkpoints it builds the default (`*_small.yaml`) architectures with random weights:
latency does not depend on the weight values. Exports both to ONNX (batch 1), then runs each
session --warmup times and times --runs single-frame runs, printing median, 10th-90th percentile
spread and the sum of the two medians.
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

from pose3d_ros.models.hourglass import build_hourglass, load_hourglass  # noqa: E402
from pose3d_ros.models.prcnn import build_prcnn, load_prcnn  # noqa: E402
from training.export_onnx import example_inputs, export_onnx  # noqa: E402

CONFIGS = ROOT / 'training' / 'configs' / 'image'


def default_model(kind):
    config = yaml.safe_load((CONFIGS / f'{kind}_small.yaml').read_text())
    build = build_hourglass if kind == 'hourglass' else build_prcnn
    return build(config['model']).eval(), config['data']['input_size']


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
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--runs', type=int, default=200)
    args = parser.parse_args(argv)
    medians = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind, path, load in (('hourglass', args.hourglass, load_hourglass), ('prcnn', args.prcnn, load_prcnn)):
            if path:
                model, checkpoint = load(path)
                size = checkpoint['input_size']
            else:
                model, size = default_model(kind)
            onnx_path = Path(folder) / f'{kind}.onnx'
            export_onnx(kind, model, size, onnx_path)
            feeds = {name: tensor.numpy() for name, tensor in
                     zip(('image', 'heatmaps'), example_inputs(kind, model, size, 1).values())}
            times = time_session(onnx_path, feeds, args.threads, args.warmup, args.runs)
            medians[kind] = float(np.median(times))
            low, high = np.percentile(times, [10, 90])
            print(f'{kind:<10} {size}x{size}  median {medians[kind]:6.2f} ms  p10-p90 {low:.2f}-{high:.2f} ms  '
                  f'({args.runs} runs, {args.threads} threads)')
    print(f'both       median sum {sum(medians.values()):6.2f} ms per frame')


if __name__ == '__main__':
    main()
