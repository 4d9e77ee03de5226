"""MediaPipe Pose (BlazePose GHUM 3D, the legacy `mediapipe.solutions.pose`) on decoded frames:
the reference that the project's benchmarks and evaluations compare with.

It runs in its own venv (mediapipe needs numpy 1; `bench/mediapipe_reference/setup` builds it)
and imports nothing from the project, so callers run it as a subprocess on the same frames they
feed their own pipeline:

    bench/mediapipe_reference/.venv/bin/python bench/mediapipe_reference/run_mediapipe.py \\
        INPUT OUTPUT [--complexity {0,1,2}] [--static] [--no-smoothing] [--warmup N]

INPUT   a .npz whose array `frames` is (N, H, W, 3) uint8 RGB, or a video file, decoded with
        OpenCV (BGR -> RGB) into memory before anything is timed.
OUTPUT  .npz (arrays, `meta` as a JSON string) or .json (NaN written as null), holding
        landmarks        (N, 33, 5) float32: x, y in pixels; z, MediaPipe's depth relative to the
                         hips, normalized by the image width as x is, so also in pixels; visibility;
                         presence (NaN: the legacy graph leaves it unset). NaN where nobody is found.
        world_landmarks  (N, 33, 3) float32, metres, MediaPipe's world frame (origin between the
                         hips, y down). NaN where nobody is found.
        detected         (N,) bool
        process_s        (N,) float64, seconds of pose.process per frame (time.perf_counter)
        process_cpu_s    (N,) float64, CPU seconds the whole process (all threads) spent in it
                         (time.process_time): what a frame costs, less disturbed than process_s
                         by other programs competing for the cores
        meta             mediapipe version, options, frame count and size, warm-up, the CPUs the
                         process may use, its thread count, and its CPU time / wall time in
                         pose.process (cpu_per_wall: how many cores it kept busy).
A one-line summary (median and 10th-90th percentile ms per frame, CPU ms) goes to stdout.

Options
  --complexity  landmark model: 0 lite, 1 full (default), 2 heavy. The person detector is the same.
  --static      image mode: the detector runs on every frame; no tracking, no smoothing.
  --no-smoothing  video mode without the landmark filter (smooth_landmarks=False).
  --warmup N    frames processed before the timed pass (default 10): the first N frames, then two
                blank ones. On a blank frame the detector finds nobody, which drops the tracked
                region and the landmark filter, so the timed pass gives the x, y, z of a fresh
                Pose instance exactly (checked; only visibility, low-pass filtered across frames,
                keeps a trace of the warm-up: < 0.03, fading by 10 % a frame) while its first
                frame no longer pays the graph's start-up (150-300 ms here).

Threads: the legacy API has no thread option. On Linux desktop builds each TFLite model runs on
XNNPACK with one thread and the graph's scheduler threads mostly wait, so one process keeps about
one core busy (meta's cpu_per_wall says how many it did). To pin it, start it under taskset, e.g.
`taskset -c 2 .venv/bin/python run_mediapipe.py ...`; meta records the CPUs it was allowed.

Video mode stamps frames at 30 fps whatever the real rate (the legacy API's simulated clock), so
the landmark filter assumes 30 fps.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

NUM_LANDMARKS = 33
BLANK_FRAMES_AFTER_WARMUP = 2  # one to lose the tracked region, one to find nobody


def read_frames(path):
    """(N, H, W, 3) uint8 RGB from a .npz (`frames`) or a video file."""
    path = Path(path)
    if not path.is_file():
        sys.exit(f'run_mediapipe: {path}: no such file')
    if path.suffix == '.npz':
        with np.load(path) as archive:
            if 'frames' not in archive:
                sys.exit(f'run_mediapipe: {path}: no array `frames` (has {sorted(archive.files)})')
            frames = archive['frames']
    else:
        capture = cv2.VideoCapture(str(path))
        decoded = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        capture.release()
        frames = np.stack(decoded) if decoded else np.empty((0, 0, 0, 3), np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        sys.exit(f'run_mediapipe: {path}: expected (N, H, W, 3) uint8 RGB frames with N > 0, '
                 f'got {frames.shape} {frames.dtype}')
    return np.ascontiguousarray(frames)


def landmark_arrays(results, width, height):
    """One frame's results -> (33, 5) image landmarks and (33, 3) world landmarks, NaN if none."""
    image = np.full((NUM_LANDMARKS, 5), np.nan, np.float32)
    world = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
    if results.pose_landmarks is not None:
        for index, landmark in enumerate(results.pose_landmarks.landmark):
            presence = landmark.presence if landmark.HasField('presence') else np.nan
            image[index] = (landmark.x * width, landmark.y * height, landmark.z * width,
                            landmark.visibility, presence)
        for index, landmark in enumerate(results.pose_world_landmarks.landmark):
            world[index] = (landmark.x, landmark.y, landmark.z)
    return image, world


def run(frames, complexity, static, smoothing, warmup):
    """Warm up, then time pose.process on every frame -> output arrays and timing meta."""
    height, width = frames.shape[1:3]
    pose = mp.solutions.pose.Pose(static_image_mode=static, model_complexity=complexity,
                                  smooth_landmarks=smoothing, enable_segmentation=False)
    blank = np.zeros_like(frames[0])
    for frame in [*frames[:warmup], *[blank] * BLANK_FRAMES_AFTER_WARMUP]:
        pose.process(frame)
    threads = len(os.listdir('/proc/self/task'))
    landmarks = np.full((len(frames), NUM_LANDMARKS, 5), np.nan, np.float32)
    world_landmarks = np.full((len(frames), NUM_LANDMARKS, 3), np.nan, np.float32)
    process_s, process_cpu_s = np.empty(len(frames)), np.empty(len(frames))
    for index, frame in enumerate(frames):
        start, cpu_start = time.perf_counter(), time.process_time()
        results = pose.process(frame)
        process_s[index] = time.perf_counter() - start
        process_cpu_s[index] = time.process_time() - cpu_start
        landmarks[index], world_landmarks[index] = landmark_arrays(results, width, height)
    pose.close()
    arrays = {'landmarks': landmarks, 'world_landmarks': world_landmarks,
              'detected': ~np.isnan(landmarks[:, 0, 0]), 'process_s': process_s,
              'process_cpu_s': process_cpu_s}
    timing = {'threads': threads, 'cpu_per_wall': round(process_cpu_s.sum() / process_s.sum(), 3)}
    return arrays, timing


def write(path, arrays, meta):
    path = Path(path)
    if path.suffix == '.json':
        document = {name: np.where(np.isnan(values), None, values).tolist()
                    if values.dtype.kind == 'f' else values.tolist() for name, values in arrays.items()}
        path.write_text(json.dumps({**document, 'meta': meta}, allow_nan=False))
    else:
        np.savez_compressed(path, **arrays, meta=json.dumps(meta))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='.npz with `frames` (N, H, W, 3) uint8 RGB, or a video file')
    parser.add_argument('output', help='.npz or .json')
    parser.add_argument('--complexity', type=int, choices=(0, 1, 2), default=1,
                        help='landmark model: 0 lite, 1 full, 2 heavy (default: %(default)s)')
    parser.add_argument('--static', action='store_true', help='image mode: detect on every frame')
    parser.add_argument('--no-smoothing', action='store_true', help='video mode without landmark smoothing')
    parser.add_argument('--warmup', type=int, default=10,
                        help='frames processed before the timed pass (default: %(default)s)')
    args = parser.parse_args(argv)
    if Path(args.output).suffix not in ('.npz', '.json'):
        parser.error(f'output must end in .npz or .json: {args.output}')

    frames = read_frames(args.input)
    arrays, timing = run(frames, args.complexity, args.static, not args.no_smoothing, args.warmup)
    meta = {'mediapipe': mp.__version__, 'input': str(args.input), 'complexity': args.complexity,
            'static_image_mode': args.static, 'smooth_landmarks': not args.no_smoothing,
            'frames': len(frames), 'width': frames.shape[2], 'height': frames.shape[1],
            'warmup_frames': min(args.warmup, len(frames)),
            'cpus_allowed': sorted(os.sched_getaffinity(0)), **timing}
    write(args.output, arrays, meta)
    milliseconds = arrays['process_s'] * 1000
    print(f'{args.input}: {len(frames)} frames, person in {int(arrays["detected"].sum())}, '
          f'pose.process {np.median(milliseconds):.1f} ms median '
          f'({np.percentile(milliseconds, 10):.1f}-{np.percentile(milliseconds, 90):.1f} p10-p90), '
          f'{np.median(arrays["process_cpu_s"]) * 1000:.1f} CPU ms median, '
          f'complexity {args.complexity}, {"static" if args.static else "video"} mode, '
          f'{timing["cpu_per_wall"]:.2f} cores busy -> {args.output}')


if __name__ == '__main__':
    main()
