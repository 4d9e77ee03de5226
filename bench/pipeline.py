"""End-to-end and per-stage latency of the pose pipeline with the papers' front end (hourglass +
PRCNN; image already decoded -> 3D pose), for each backend present, through the same
PosePipeline the nodes run. The BlazePose front end on a real video, beside MediaPipe: front_end.py.

    .venv/bin/python bench/pipeline.py --threads 2
    .venv/bin/python bench/pipeline.py --hourglass H.pt --prcnn P.pt --backends onnxruntime pytorch \
        --device cuda --precision fp16 --json bench.json

Without checkpoints the default (`*_small.yaml`) hourglass and PRCNN are built with random
weights (latency does not depend on the values; the tracked box is forgotten before every frame,
so every frame crops the whole image the same way) and the shipped lifter is used. Frames: --frames fixed 640 x 480 RGB images from
a seeded generator, cycled. Each backend runs --warmup frames, then --runs timed frames; the
table gives median and 10th-90th percentiles per stage and end to end, FPS from the median, and
each backend's end-to-end median relative to the first backend.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose3d_ros.inference.backends import BACKENDS  # noqa: E402
from pose3d_ros.inference.drpose3d import PersonTracker  # noqa: E402
from pose3d_ros.inference.pipeline import build_pipeline  # noqa: E402
from pose3d_ros.models import hourglass, prcnn  # noqa: E402
from pose3d_ros.paths import DEFAULT_LIFTER  # noqa: E402

CONFIGS = ROOT / 'training' / 'configs' / 'image'


def default_checkpoints(folder):
    """The `*_small.yaml` architectures with seeded random weights, saved as checkpoints."""
    torch.manual_seed(0)
    paths = {}
    for kind, module in (('hourglass', hourglass), ('prcnn', prcnn)):
        config = yaml.safe_load((CONFIGS / f'{kind}_small.yaml').read_text())
        build = module.build_hourglass if kind == 'hourglass' else module.build_prcnn
        paths[kind] = Path(folder) / f'{kind}.pt'
        torch.save({'format': module.CHECKPOINT_FORMAT, 'model': config['model'],
                    'state_dict': build(config['model']).state_dict(),
                    'input_size': config['data']['input_size']}, paths[kind])
    return paths


def run_backend(backend, checkpoints, frames, args, cache_dir):
    """-> {stage or 'total': (runs,) ms} for one backend."""
    if args.threads:
        torch.set_num_threads(args.threads)
    pipeline = build_pipeline('drpose3d', **checkpoints, backend=backend, precision=args.precision,
                              device=args.device, threads=args.threads, cache_dir=cache_dir,
                              tracker=PersonTracker(min_confidence=0.0))  # random weights: always someone
    intrinsics = dict(focal=(600.0, 600.0), center=(319.5, 239.5))
    timings = {name: [] for name in (*pipeline.stages, 'total')}
    for index in range(args.warmup + args.runs):
        pipeline.reset()  # the whole frame every time
        start = time.perf_counter()
        for person in pipeline.people(frames[index % len(frames)]):
            pipeline.lift(person, **intrinsics)
        total = (time.perf_counter() - start) * 1000
        if index >= args.warmup:
            for stage in pipeline.stages:
                timings[stage].append(pipeline.stage_ms[stage])
            timings['total'].append(total)
    return {name: np.array(values) for name, values in timings.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hourglass', help='hourglass checkpoint (default: random small architecture)')
    parser.add_argument('--prcnn', help='PRCNN checkpoint (default: random small architecture)')
    parser.add_argument('--lifter', default=str(DEFAULT_LIFTER))
    parser.add_argument('--backends', nargs='+', default=['onnxruntime', 'pytorch'], choices=BACKENDS)
    parser.add_argument('--precision', default='fp32')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, help='CPU threads (ONNX Runtime intra-op and PyTorch)')
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--warmup', type=int, default=30)
    parser.add_argument('--runs', type=int, default=300)
    parser.add_argument('--json', help='write the raw summary here')
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(args.frames)]
    summary = {}
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = {'lifter': args.lifter}
        if args.hourglass and args.prcnn:
            checkpoints.update(hourglass=args.hourglass, prcnn=args.prcnn)
        else:
            checkpoints.update(default_checkpoints(folder))
        for backend in args.backends:
            try:
                timings = run_backend(backend, checkpoints, frames, args, Path(folder) / 'cache')
            except ValueError as error:
                print(f'{backend}: not run ({error})')
                continue
            summary[backend] = {name: {'median_ms': float(np.median(values)),
                                       'p10_ms': float(np.percentile(values, 10)),
                                       'p90_ms': float(np.percentile(values, 90))} for name, values in timings.items()}
    print(f'{args.runs} frames per backend, device {args.device}, precision {args.precision}, '
          f'threads {args.threads or "default"}')
    print(f'{"backend":<12} {"stage":<10} {"median ms":>10} {"p10-p90 ms":>16}')
    for backend, stages in summary.items():
        for name, stats in stages.items():
            print(f'{backend:<12} {name:<10} {stats["median_ms"]:10.2f} '
                  f'{stats["p10_ms"]:7.2f}-{stats["p90_ms"]:<8.2f}')
        total = stages['total']['median_ms']
        print(f'{backend:<12} {"FPS":<10} {1000 / total:10.1f}')
    if summary:
        first = next(iter(summary))
        for backend in summary:
            ratio = summary[backend]['total']['median_ms'] / summary[first]['total']['median_ms']
            print(f'{backend} / {first} end-to-end median: {ratio:.2f}')
    if args.json:
        Path(args.json).write_text(json.dumps({'args': vars(args), 'summary': summary}, indent=2))
    return 0 if summary else 1


if __name__ == '__main__':
    sys.exit(main())
